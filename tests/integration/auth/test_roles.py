"""Roles on a live control plane, with the stock mlflow client and plain HTTP as users drive it:
a reader reads but cannot write, an editor writes runs and resources, only an admin manages
tokens and reads the audit log, a revoked token is refused once the cache TTL has passed, and
the audit log names who did (or was refused) each write."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from cnai.auth.principal import Role
from cnai.auth.tokens import TokenStore
from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, start_live_server

pytestmark = pytest.mark.integration

DEPLOYMENT = {
    "apiVersion": "cnai.io/v1",
    "kind": "Deployment",
    "metadata": {"name": "wine"},
    "spec": {"model": "models:/wine@champion", "replicas": {"min": 0, "max": 1}},
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Plane:
    server: LiveServer
    home: Path
    clock: FakeClock
    tokens: dict[str, str]  # role label -> plaintext

    def http(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def audit(self) -> list[dict[str, object]]:
        with self.http("admin") as admin:
            answer = admin.get("/api/v1/audit", params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        entries: list[dict[str, object]] = answer.json()["entries"]
        return entries


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    home = tmp_path_factory.mktemp("roles")
    server = start_live_server(Settings(home=home))
    clock = FakeClock()
    store: TokenStore = server.server_app_plane().tokens
    store.clock = clock
    tokens = {role.label: store.create(f"{role.label}-1", role)[1] for role in Role}
    yield Plane(server, home, clock, tokens)
    server.stop()


def client_as(plane: Plane, role: str, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", plane.tokens[role])
    mlflow.set_tracking_uri(plane.server.url)
    return MlflowClient(plane.server.url)


def test_without_a_token_only_health_answers(plane: Plane) -> None:
    with plane.http() as anonymous:
        assert anonymous.get("/health").status_code == 200
        denied = anonymous.post("/api/2.0/mlflow/experiments/create", json={"name": "anon"})
        assert denied.status_code == 401
        assert denied.json()["error_code"] == "UNAUTHENTICATED"
        assert {"Bearer", "Basic"} <= {v.split()[0] for v in denied.headers.get_list("www-authenticate")}
        page = anonymous.get("/")  # the UI asks the browser to prompt for the token
        assert page.status_code == 401
        assert page.headers["content-type"].startswith("text/html")
        assert anonymous.get("/metrics").status_code == 401


def test_reader_reads_but_cannot_write(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_as(plane, "reader", monkeypatch)
    assert any(e.name == "Default" for e in client.search_experiments())  # a POST search is a read
    client.search_runs(["0"])
    with pytest.raises(MlflowException, match="needs the editor role") as refused:
        client.create_experiment(f"by-reader-{uuid.uuid4().hex[:6]}")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert not [e for e in client.search_experiments() if e.name.startswith("by-reader-")]
    with plane.http("reader") as reader:
        put = reader.put("/api/v1/resources/deployments/wine", json=DEPLOYMENT)
        assert put.status_code == 403
        assert put.json()["code"] == "PERMISSION_DENIED"
        assert "editor" in put.json()["error"]
        assert reader.get("/api/v1/resources/deployments").status_code == 200
        assert reader.get("/api/v1/resources/deployments/wine").status_code == 404  # nothing was written
        upload = reader.put("/api/2.0/mlflow-artifacts/artifacts/0/x.txt", content=b"x")
        assert upload.status_code == 403
        assert upload.json()["error_code"] == "PERMISSION_DENIED"


def test_editor_writes_runs_and_resources(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_as(plane, "editor", monkeypatch)
    exp = client.create_experiment(f"by-editor-{uuid.uuid4().hex[:6]}")
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_param("depth", "3")
        mlflow.log_metrics({"acc": 0.9, "loss": 0.1})
        mlflow.log_text("hello", "notes/hello.txt")  # through the artifact proxy, with the token
    assert client.get_run(run.info.run_id).data.metrics == {"acc": 0.9, "loss": 0.1}
    assert client.download_artifacts(run.info.run_id, "notes/hello.txt")
    with plane.http("editor") as editor:
        put = editor.put("/api/v1/resources/deployments/wine", json=DEPLOYMENT)
        assert put.status_code in (200, 201), put.text
        # Basic auth with the token as password works as well (MLFLOW_TRACKING_PASSWORD).
        basic = base64.b64encode(f"ci:{plane.tokens['editor']}".encode()).decode()
        answer = httpx.get(
            f"{plane.server.url}/api/v1/resources/deployments/wine", headers={"Authorization": f"Basic {basic}"}
        )
        assert answer.status_code == 200
        for admin_only in (editor.get("/api/v1/audit"), editor.get("/api/v1/tokens")):
            assert admin_only.status_code == 403
            assert admin_only.json()["code"] == "PERMISSION_DENIED"
        assert editor.post("/api/v1/tokens", json={"name": "mine", "role": "admin"}).status_code == 403


def test_admin_manages_tokens_over_the_api(plane: Plane) -> None:
    with plane.http("admin") as admin:
        created = admin.post("/api/v1/tokens", json={"name": "ci-bot", "role": "editor"})
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        listed = admin.get("/api/v1/tokens").json()["tokens"]
        assert {"name": "ci-bot", "role": "editor"}.items() <= next(t for t in listed if t["name"] == "ci-bot").items()
        assert token not in str(listed)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{plane.server.url}/api/v1/resources/deployments", headers=headers).status_code == 200
        assert admin.delete("/api/v1/tokens/ci-bot").status_code == 200
        # Revoked through this process's own store: refused at once here.
        assert httpx.get(f"{plane.server.url}/api/v1/resources/deployments", headers=headers).status_code == 401
        assert admin.delete("/api/v1/tokens/ci-bot").json()["code"] == "RESOURCE_DOES_NOT_EXIST"


def test_revoked_elsewhere_is_refused_after_the_cache_ttl(plane: Plane) -> None:
    """`cnai tokens revoke` runs in another process: this server notices within its TTL."""
    other_process = TokenStore(plane.server.server_app_plane().engine)
    _, token = other_process.create("short-lived", Role.READER)
    url = f"{plane.server.url}/api/2.0/mlflow/experiments/search"
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(url, json={}, headers=headers).status_code == 200
    other_process.revoke("short-lived")
    plane.clock.now += 4  # within the 5 s TTL the cached lookup still answers
    assert httpx.post(url, json={}, headers=headers).status_code == 200
    plane.clock.now += 2
    refused = httpx.post(url, json={}, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "UNAUTHENTICATED"


def test_audit_log_names_who_wrote_and_who_was_refused(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"audited-{uuid.uuid4().hex[:6]}"
    client_as(plane, "editor", monkeypatch).create_experiment(name)
    with pytest.raises(MlflowException):
        client_as(plane, "reader", monkeypatch).create_experiment(name + "-reader")
    with httpx.Client(base_url=plane.server.url) as anonymous:
        anonymous.post(
            "/api/2.0/mlflow/experiments/create", json={"name": f"{name}-x"}, headers={"x-request-id": "req-42"}
        )
    with plane.http("admin") as admin:
        assert admin.post("/api/v1/tokens", json={"name": name, "role": "reader"}).status_code == 201
    entries = plane.audit()
    seen = {(e["principal"], e["role"], e["method"], e["path"], e["status"]) for e in entries}
    path = "/api/2.0/mlflow/experiments/create"
    assert ("editor-1", "editor", "POST", path, 200) in seen
    assert ("reader-1", "reader", "POST", path, 403) in seen
    assert ("unauthenticated", "", "POST", path, 401) in seen
    anon = next(e for e in entries if e["request_id"] == "req-42")
    assert anon["client"] == "127.0.0.1"
    assert isinstance(anon["ts"], int)
    assert anon["ts"] > 0
    assert ("admin-1", "admin", "POST", "/api/v1/tokens", 201) in seen
    assert not [e for e in entries if e["method"] == "GET"]  # reads are not audited
    with plane.http("reader") as reader:
        assert reader.get("/api/v1/audit").status_code == 403


def test_the_controllers_own_token_reads_and_nothing_more(plane: Plane) -> None:
    """`cnai up`'s replicas download registry models with a reader token private to the process,
    so a plane whose store holds tokens still deploys (and a leaked replica env cannot write)."""
    internal = plane.server.server_app_plane().internal_token
    headers = {"Authorization": f"Bearer {internal}"}
    with httpx.Client(base_url=plane.server.url, headers=headers) as replica:
        assert replica.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}).status_code == 200
        refused = replica.post("/api/2.0/mlflow/experiments/create", json={"name": "by-replica"})
        assert refused.status_code == 403
        assert "'controller' has reader" in refused.json()["message"]
