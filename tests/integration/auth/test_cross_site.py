"""The browser attacks of issue #13 against the laptop default (`cnai up` on loopback, no token):
a page on another site POSTs ``text/plain`` to move a registry alias that deployments follow,
deletes an experiment with a foreign Origin, or reaches the server through a rebinding DNS name.
Each is refused and writes nothing; the same requests from the server's own origin with JSON
succeed, and the refusals are in the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from mlflow import MlflowClient

from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, start_live_server

pytestmark = pytest.mark.integration

EVIL = "http://evil.example"
ALIAS = "/api/2.0/mlflow/registered-models/alias"
DELETE_EXPERIMENT = "/api/2.0/mlflow/experiments/delete"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("cross-site")
    live = start_live_server(Settings(home=home))
    yield live
    live.stop()


@pytest.fixture
def wine(server: LiveServer) -> tuple[MlflowClient, str]:
    """A model with two versions, alias champion -> 1."""
    client = MlflowClient(server.url)
    name = f"wine-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, source="file:///tmp/model")
    client.set_registered_model_alias(name, "champion", "1")
    return client, name


def champion(client: MlflowClient, name: str) -> str:
    return str(client.get_model_version_by_alias(name, "champion").version)


def test_cross_site_text_plain_post_cannot_move_an_alias(server: LiveServer, wine: tuple[MlflowClient, str]) -> None:
    client, name = wine
    body = orjson.dumps({"name": name, "alias": "champion", "version": "2"})
    plain = {"Content-Type": "text/plain;charset=UTF-8"}
    with httpx.Client(base_url=server.url) as browser:
        # What a form or fetch() on evil.example sends: Origin set, a CORS-safelisted type.
        attack = browser.post(ALIAS, content=body, headers={**plain, "Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
        assert attack.status_code == 403
        assert attack.json()["error_code"] == "PERMISSION_DENIED"
        assert "evil.example" in attack.json()["message"]
        # Without Origin (a client that strips it), text/plain is still no JSON request.
        no_origin = browser.post(ALIAS, content=body, headers=plain)
        assert no_origin.status_code == 415
        assert no_origin.json()["error_code"] == "BAD_REQUEST"
        # fetch() with a Blob body sends no Content-Type at all.
        assert browser.post(ALIAS, content=body).status_code == 415
        # JSON marked cross-site by the browser (a CORS request that would need a preflight).
        assert (
            browser.post(
                ALIAS, content=body, headers={"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}
            ).status_code
            == 403
        )
        assert champion(client, name) == "1"
        # The server's own page (the web UI) with JSON moves it.
        own = browser.post(ALIAS, content=body, headers={"Origin": server.url, "Content-Type": "application/json"})
        assert own.status_code == 200, own.text
    assert champion(client, name) == "2"


def test_foreign_origin_cannot_delete(server: LiveServer, wine: tuple[MlflowClient, str]) -> None:
    client, name = wine
    exp_id = client.create_experiment(f"keep-{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=server.url, headers={"Origin": EVIL}) as browser:
        assert browser.post(DELETE_EXPERIMENT, json={"experiment_id": exp_id}).status_code == 403
        assert browser.post(DELETE_EXPERIMENT, content=orjson.dumps({"experiment_id": exp_id})).status_code == 403
        gone = browser.request("DELETE", "/api/2.0/mlflow/registered-models/delete", json={"name": name})
        assert gone.status_code == 403
        v1 = browser.delete("/api/v1/resources/deployments/anything")
        assert v1.status_code == 403
        assert v1.json()["code"] == "PERMISSION_DENIED"
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert client.get_registered_model(name).name == name
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as own_page:
        assert own_page.post(DELETE_EXPERIMENT, json={"experiment_id": exp_id}).status_code == 200
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"


def test_a_rebinding_host_is_refused(server: LiveServer, wine: tuple[MlflowClient, str]) -> None:
    client, name = wine
    port = server.url.rsplit(":", 1)[1]
    with httpx.Client(base_url=server.url, headers={"Host": f"evil.example:{port}"}) as rebound:
        read = rebound.get("/api/2.0/mlflow/registered-models/get", params={"name": name})
        assert read.status_code == 400
        assert "evil.example" in read.json()["message"]
        write = rebound.post(ALIAS, json={"name": name, "alias": "champion", "version": "2"})
        assert write.status_code == 400
        ui = rebound.get("/")
        assert ui.status_code == 400
        assert ui.headers["content-type"].startswith("text/html")
        assert rebound.get("/api/v1/resources/deployments").json()["code"] == "BAD_REQUEST"
    assert champion(client, name) == "1"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert (
            httpx.get(
                f"{server.url}/api/2.0/mlflow/registered-models/get", params={"name": name}, headers={"Host": host}
            ).status_code
            == 200
        )


def test_refused_browser_writes_are_audited(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as browser:
        browser.post(
            DELETE_EXPERIMENT, content=b'{"experiment_id": "0"}', headers={"Origin": EVIL, "x-request-id": "evil-1"}
        )
        entries = browser.get("/api/v1/audit", params={"limit": 1000}).json()["entries"]
    entry = next(e for e in entries if e["request_id"] == "evil-1")
    # No token on this server: the caller is the anonymous single user, refused for its origin.
    assert (entry["principal"], entry["method"], entry["path"], entry["status"]) == (
        "anonymous",
        "POST",
        DELETE_EXPERIMENT,
        403,
    )
