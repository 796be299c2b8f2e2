"""`cnai serve` behind its gate: the token on every route but health, the Host check, and the
refusal to bind beyond loopback without a token."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cnai.serving.app import create_app
from cnai.serving.settings import ServeSettings
from tests.fixtures import serving_models as sm

pytestmark = pytest.mark.integration
TOKEN = "serve-secret-1"
ROW = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return sm.save_logistic(tmp_path_factory.mktemp("serve-auth") / "lr")


@pytest.fixture(scope="module")
def served(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sm.LiveServing]:
    settings = ServeSettings(
        models=[f"lr={model_dir}"], home=tmp_path_factory.mktemp("home"), auth_token=TOKEN, inference_log=False
    )
    server = sm.start_serving(settings, create_app(settings))  # type: ignore[arg-type]  # the gated app
    yield server
    server.stop()


def test_infer_needs_the_token(served: sm.LiveServing) -> None:
    with httpx.Client(base_url=served.url) as client:
        refused = client.post("/v2/models/lr/infer", json=ROW)
        assert refused.status_code == 401
        assert "token" in refused.json()["error"]
        assert any(v.startswith("Bearer") for v in refused.headers.get_list("www-authenticate"))
        assert (
            client.post("/v2/models/lr/infer", json=ROW, headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert client.post("/invocations", json={"inputs": [[0.1, 0.2, 0.3, 0.4]]}).status_code == 401
        assert client.get("/v2/models/lr").status_code == 401  # metadata too
        assert client.get("/metrics").status_code == 401
        ok = client.post("/v2/models/lr/infer", json=ROW, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["outputs"][0]["data"]) == 1
        assert client.post("/v2/models/lr/infer", json=ROW, auth=("any", TOKEN)).status_code == 200  # basic


def test_health_stays_open(served: sm.LiveServing) -> None:
    with httpx.Client(base_url=served.url) as client:
        for path in ("/v2/health/live", "/v2/health/ready", "/ping", "/health"):
            assert client.get(path).status_code == 200, path


def test_a_foreign_host_is_refused(served: sm.LiveServing) -> None:
    port = served.url.rsplit(":", 1)[1]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=served.url) as client:
        rebound = client.post("/v2/models/lr/infer", json=ROW, headers={**headers, "Host": f"evil.example:{port}"})
        assert rebound.status_code == 400
        assert "evil.example" in rebound.json()["error"]
        assert (
            client.post("/v2/models/lr/infer", json=ROW, headers={**headers, "Host": f"localhost:{port}"}).status_code
            == 200
        )


def test_a_cross_site_post_is_refused_and_unloads_nothing(served: sm.LiveServing) -> None:
    """A page on another site may POST text/plain without a preflight; here it would unload the model."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=served.url) as client:
        for cross_site in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            refused = client.post(
                "/v2/repository/models/lr/unload",
                content=b"{}",
                headers={**headers, **cross_site, "Content-Type": "text/plain"},
            )
            assert refused.status_code == 403, refused.text
            assert "Cross-site" in refused.json()["error"]
        assert client.get("/v2/models/lr/ready", headers=headers).status_code == 200  # still loaded
        same_origin = {**headers, "Origin": served.url}
        assert client.post("/v2/models/lr/infer", json=ROW, headers=same_origin).status_code == 200


def test_public_bind_without_a_token_exits_with_one_line(model_dir: Path, tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "cnai.cli.main",
        "serve",
        f"lr={model_dir}",
        "--host",
        "0.0.0.0",
        "--home",
        str(tmp_path),
    ]
    env = {**os.environ, "COLUMNS": "300"}  # rich wraps at 80 columns without a terminal
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Refusing to bind 0.0.0.0 without a token" in lines[0]
