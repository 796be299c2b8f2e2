"""A control plane that requires a token: the controller resolves aliases and its replicas
download registry models with that token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from cnai.deploy.controller import DeploymentController
from cnai.resources import ResourceStore
from cnai.settings import Settings
from tests.fixtures.servers import start_live_server
from tests.integration.deploy.conftest import FAST, ROW, SERVE_ARGS, Models, apply, eventually, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOKEN = "deploy-test-token"


async def test_alias_deployment_on_a_token_protected_control_plane(
    store: ResourceStore, models: Models, tmp_path: Path, cnai_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane = start_live_server(
        Settings(
            home=tmp_path / "plane",
            store=f"sqlite:///{tmp_path / 'plane.db'}",
            artifacts=(tmp_path / "a").as_uri(),
            auth_token=TOKEN,
        )
    )
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)  # for this test's own registry calls
    client = MlflowClient(tracking_uri=plane.url, registry_uri=plane.url)
    client.create_registered_model("secure")
    client.create_model_version("secure", source=str(models.v2))
    client.set_registered_model_alias("secure", "champion", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")  # replicas must get it from the controller, not from here
    assert httpx.get(f"{plane.url}/api/2.0/mlflow/registered-models/get?name=secure").status_code == 401

    controller = DeploymentController(
        store, tracking_uri=plane.url, tracking_token=TOKEN, home=cnai_home, serve_args=SERVE_ARGS, **FAST
    )
    await controller.start()
    try:
        apply(store, "secure", {"model": "models:/secure@champion", "replicas": {"min": 1, "max": 1}})
        ready = await eventually(lambda: (s := status(store, "secure")).get("phase") == "Ready" and s, what="ready")
        assert ready["model"]["version"] == "1"
        async with httpx.AsyncClient(trust_env=False) as http:
            answer = await http.post(f"{ready['url']}/v2/models/secure/infer", content=ROW)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [7]
    finally:
        await controller.stop()
        plane.stop()
