"""The gate in front of a stand-in app: error shapes per protocol, JSON with parameters, and a
store that is down answering 503 (retryable) instead of a 500 or an open door."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from cnai.auth.middleware import Guard
from cnai.auth.principal import Role
from cnai.auth.tokens import TokenStore
from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.settings import Settings


async def echo_ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def client(guard: Guard) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://127.0.0.1:8080")


async def test_error_shapes_follow_the_protocol(tmp_path: Path) -> None:
    guard = Guard(echo_ok, settings=Settings(home=tmp_path, auth_token="boot"))
    async with client(guard) as c:
        mlflow = await c.get("/api/2.0/mlflow/experiments/get")
        assert mlflow.json() == {"error_code": "UNAUTHENTICATED", "message": mlflow.json()["message"]}
        v1 = await c.get("/api/v1/resources/deployments")
        assert set(v1.json()) == {"error", "code"}
        ui = await c.get("/ui/runs/1")
        assert ui.headers["content-type"].startswith("text/html")
        assert "<h1>401 Sign in</h1>" in ui.text
        metrics = await c.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert (await c.get("/health")).status_code == 200


async def test_json_with_parameters_passes_and_other_types_do_not(tmp_path: Path) -> None:
    guard = Guard(echo_ok, settings=Settings(home=tmp_path))
    url = "/api/2.0/mlflow/runs/log-metric"
    async with client(guard) as c:
        for ok in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
            assert (await c.post(url, content=b"{}", headers={"Content-Type": ok})).status_code == 200, ok
        for bad in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            refused = await c.post(url, content=b"{}", headers={"Content-Type": bad})
            assert refused.status_code == 415, bad
        assert (await c.post("/api/v1/deployments/d/promote")).status_code == 200  # no body, no type needed
        artifact = await c.put("/api/2.0/mlflow-artifacts/artifacts/1/m.pkl", content=b"\x80\x04")
        assert artifact.status_code == 200  # artifacts are bytes of any type


async def test_a_store_that_is_down_answers_503(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no tokens table
    guard = Guard(echo_ok, settings=Settings(home=tmp_path), tokens=TokenStore(engine))
    async with client(guard) as c:
        answer = await c.get("/api/2.0/mlflow/experiments/get")
    assert answer.status_code == 503
    assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    engine.dispose()


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3"])
async def test_an_exposed_server_keeps_auth_on_after_the_last_token_is_revoked(tmp_path: Path, bind: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    upgrade(engine)
    tokens = TokenStore(engine, ttl_seconds=0)
    tokens.create("only", Role.ADMIN)
    tokens.revoke("only")
    guard = Guard(echo_ok, settings=Settings(home=tmp_path, host=bind), tokens=tokens)
    async with client(guard) as c:
        assert (await c.get("/api/2.0/mlflow/experiments/get")).status_code == 401
    loopback = Guard(echo_ok, settings=Settings(home=tmp_path), tokens=tokens)
    async with client(loopback) as c:  # on loopback, no token left means the single-user server again
        assert (await c.get("/api/2.0/mlflow/experiments/get")).status_code == 200
    engine.dispose()
