"""The MLflow RPC fast path (a (method, path) table ahead of Starlette's router) answers exactly as
the routed endpoints do: same status, same body, for good requests and for every kind of bad one."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from cnai.errors import InvalidArgument, NotFound
from cnai.tracking.api.message import Message
from cnai.tracking.api.rpc import Endpoint, RpcFastPath, fast_table, to_routes

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
MAX_BODY = 64


def _echo(m: Message) -> dict[str, Any]:
    return {"fields": m.fields(), "ids": m.str_list("ids"), "n": m.int("n")}


def _nothing(m: Message) -> None:
    return None


def _fails(m: Message) -> None:
    kind = m.str("kind", required=True)
    if kind == "missing":
        raise NotFound("No such thing")
    if kind == "bad":
        raise InvalidArgument("Bad thing")
    raise RuntimeError("boom")


ENDPOINTS = [
    Endpoint("/echo", "GET", _echo),
    Endpoint("/echo", "POST", _echo),
    Endpoint("/nothing", "POST", _nothing, heavy=True),
    Endpoint("/fails", "POST", _fails),
]


def _routed() -> TestClient:
    return TestClient(Starlette(routes=to_routes(PREFIXES, ENDPOINTS, MAX_BODY, inline=True)))


def _fast(inline: bool) -> TestClient:
    table = fast_table(PREFIXES, ENDPOINTS, MAX_BODY, inline=inline)
    return TestClient(Starlette(routes=[], middleware=[Middleware(RpcFastPath, table=table)]))


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/2.0/mlflow/echo?ids=1&ids=2&n=3&blank=&plus=a+b%20c", {}),
    ("GET", "/ajax-api/2.0/mlflow/echo?ids=only", {}),
    ("GET", "/api/2.0/mlflow/echo?n=notanumber", {}),
    ("POST", "/api/2.0/mlflow/echo", {"json": {"ids": ["a"], "n": "7"}}),
    ("POST", "/api/2.0/mlflow/echo", {"content": b"", "headers": {"content-type": "application/json"}}),
    ("POST", "/api/2.0/mlflow/echo", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/api/2.0/mlflow/echo", {"content": b"[1, 2]", "headers": {"content-type": "application/json"}}),
    ("POST", "/api/2.0/mlflow/echo", {"json": {"pad": "x" * MAX_BODY}}),
    ("POST", "/api/2.0/mlflow/nothing", {"json": {}}),
    ("POST", "/api/2.0/mlflow/fails", {"json": {"kind": "missing"}}),
    ("POST", "/api/2.0/mlflow/fails", {"json": {"kind": "bad"}}),
    ("POST", "/api/2.0/mlflow/fails", {"json": {"kind": "crash"}}),
    ("POST", "/api/2.0/mlflow/fails", {"json": {}}),
]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "threadpool"])
@pytest.mark.parametrize(("method", "url", "kwargs"), REQUESTS, ids=[f"{m} {u}" for m, u, _ in REQUESTS])
def test_fast_path_answers_as_the_routed_endpoint(method: str, url: str, kwargs: dict[str, Any], inline: bool) -> None:
    expected = _routed().request(method, url, **kwargs)
    got = _fast(inline).request(method, url, **kwargs)
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())
    assert got.headers["content-type"] == "application/json"
    assert int(got.headers["content-length"]) == len(got.content)


def test_a_body_over_the_limit_without_a_declared_length_is_refused() -> None:
    def chunks() -> Any:
        yield b'{"pad": "'
        yield b"x" * MAX_BODY
        yield b'"}'

    response = _fast(True).post("/api/2.0/mlflow/echo", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error_code"] == "REQUEST_TOO_LARGE"


def test_what_the_table_does_not_hold_goes_on_to_the_router() -> None:
    table = fast_table(PREFIXES, ENDPOINTS, MAX_BODY, inline=True)
    assert ("GET", "/api/2.0/mlflow/echo") in table
    app = Starlette(
        routes=to_routes(PREFIXES, [*ENDPOINTS, Endpoint("/things/{name}", "GET", _echo)], MAX_BODY, inline=True),
        middleware=[Middleware(RpcFastPath, table=table)],
    )
    client = TestClient(app)
    assert client.get("/api/2.0/mlflow/things/x").json()["fields"] == {"name": "x"}  # a path parameter
    assert client.delete("/api/2.0/mlflow/echo").status_code == 405  # the router's answer
    assert client.get("/api/2.0/mlflow/nope").status_code == 404
