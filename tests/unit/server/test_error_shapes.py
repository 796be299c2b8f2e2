"""An unknown path or a wrong method answers in the shape of the API it was aimed at (found by
the API fuzzer: /api/v1 answered 404 and 405 in MLflow's shape)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from cnai.server.app import create_app
from cnai.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(create_app(Settings(home=tmp_path_factory.mktemp("home"))), base_url="http://127.0.0.1")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/feedback", 405),
        ("POST", "/api/v1/resources/deployments/x", 405),
        ("GET", "/api/v1/monitors//actions", 404),
        ("GET", "/api/v1", 404),
    ],
)
def test_v1_routing_errors_have_the_v1_shape(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "code"}, body
    assert body["code"] in ("ENDPOINT_NOT_FOUND", "BAD_REQUEST")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/2.0/mlflow/nope", 404), ("DELETE", "/api/2.0/mlflow/runs/create", 405), ("GET", "/api/v10/x", 404)],
)
def test_other_routing_errors_keep_mlflows_shape(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert set(response.json()) == {"error_code", "message"}
