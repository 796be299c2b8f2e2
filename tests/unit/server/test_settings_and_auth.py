"""Settings precedence, the bind-safety rule, and token authentication."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from cnai.errors import InvalidArgument
from cnai.settings import Settings
from tests.fixtures.servers import start_live_server


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    assert s.store == f"sqlite:///{tmp_path / 'cnai.db'}"
    assert s.artifacts == (tmp_path / "artifacts").as_uri()


def test_environment_and_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CNAI_PORT", "9999")
    monkeypatch.setenv("CNAI_HOME", str(tmp_path))
    assert Settings().port == 9999
    assert Settings(port=7000).port == 7000  # a flag beats the environment
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    assert Settings().tracking_uri == "http://elsewhere:5000"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::"])
def test_public_bind_without_auth_is_refused(host: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="without authentication"):
        Settings(home=tmp_path, host=host).check_bind_is_safe()
    Settings(home=tmp_path, host=host, insecure=True).check_bind_is_safe()
    Settings(home=tmp_path, host=host, auth_token="s3cret").check_bind_is_safe()
    Settings(home=tmp_path, host="127.0.0.1").check_bind_is_safe()


def test_token_auth(tmp_path: Path) -> None:
    server = start_live_server(Settings(home=tmp_path, auth_token="s3cret"))
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/health").status_code == 200  # probes need no secret
        denied = client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
        assert denied.status_code == 401
        assert denied.json()["error_code"] == "UNAUTHENTICATED"
        # Basic among the challenges: a browser opening the UI prompts for the token.
        assert any(v.startswith("Basic ") for v in denied.headers.get_list("www-authenticate"))
        page = client.get("/", headers={"Authorization": f"Basic {base64.b64encode(b'me:s3cret').decode()}"})
        assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
        wrong = client.get(
            "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        bearer = client.get(
            "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert bearer.status_code == 200
        basic = base64.b64encode(b"ana:s3cret").decode()
        ok = client.get(
            "/api/2.0/mlflow/experiments/get",
            params={"experiment_id": "0"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert ok.json()["experiment"]["name"] == "Default"
    server.stop()
