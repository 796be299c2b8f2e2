"""A deployment whose replicas cannot start says why, in its status, instead of pending forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnai.deploy.controller import DeploymentController
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import apply, eventually, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_replicas_that_cannot_load_their_model_are_reported(
    store: ResourceStore, controller: DeploymentController, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    apply(store, "broken", {"model": str(missing), "replicas": {"min": 1, "max": 1}})
    failing = await eventually(
        lambda: (s := status(store, "broken")).get("phase") == "Failing" and s, what="the Failing phase"
    )
    assert f"No MLflow model at {missing}" in failing["message"]
    assert "log: " in failing["message"]
    assert failing["replicas"]["ready"] == 0
