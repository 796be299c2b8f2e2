"""Every route of the composed control plane has a role decision, and the decisions are the
ones the issue asks for (a reader cannot write, searches are reads, tokens and audit are admin)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Route

from cnai.auth.policy import decide, required_role
from cnai.auth.principal import Role
from cnai.server.app import create_app
from cnai.settings import Settings


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_of_the_app_has_a_decision(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    undecided = []
    for route in app.routes:
        assert isinstance(route, Route), f"{route!r}: the policy test only knows plain routes"
        for method in route.methods or ():
            if method == "HEAD":
                continue
            if decide(method, _sample(route.path)).family == "unknown":
                undecided.append(f"{method} {route.path}")
    assert not undecided, f"routes without a role decision in cnai.auth.policy: {undecided}"
    app.state.plane.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/health", None),
        ("GET", "/version", None),
        ("GET", "/api/2.0/mlflow/experiments/get", Role.READER),
        ("POST", "/api/2.0/mlflow/runs/search", Role.READER),
        ("POST", "/ajax-api/2.0/mlflow/experiments/search", Role.READER),
        ("POST", "/api/2.0/mlflow/logged-models/search", Role.READER),
        ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions", Role.READER),
        ("POST", "/api/2.0/mlflow/experiments/create", Role.EDITOR),
        ("POST", "/api/2.0/mlflow/experiments/delete", Role.EDITOR),
        ("POST", "/api/2.0/mlflow/registered-models/alias", Role.EDITOR),
        ("DELETE", "/api/2.0/mlflow/registered-models/delete", Role.EDITOR),
        ("PATCH", "/api/2.0/mlflow/logged-models/m-1", Role.EDITOR),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/1/a.txt", Role.READER),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/a.txt", Role.EDITOR),
        ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/a.txt", Role.EDITOR),
        ("GET", "/api/v1/resources/deployments", Role.READER),
        ("GET", "/api/v1/pipelines/runs/abc", Role.READER),
        ("PUT", "/api/v1/resources/deployments/d", Role.EDITOR),
        ("POST", "/api/v1/deployments/d/promote", Role.EDITOR),
        ("GET", "/api/v1/tokens", Role.ADMIN),
        ("POST", "/api/v1/tokens", Role.ADMIN),
        ("DELETE", "/api/v1/tokens/ci", Role.ADMIN),
        ("GET", "/api/v1/audit", Role.ADMIN),
        ("GET", "/metrics", Role.READER),
        ("GET", "/", Role.READER),
        ("GET", "/ui/runs/abc", Role.READER),
        ("GET", "/ui/deployments/wine/replicas/primary-5001/log", Role.READER),
        ("GET", "/ui/studies/abc", Role.READER),
        ("GET", "/nowhere", Role.READER),
        ("POST", "/nowhere", Role.EDITOR),  # fails closed: a write needs editor even where nothing answers
    ],
)
def test_role_table(method: str, path: str, role: Role | None) -> None:
    assert required_role(method, path) == role


def test_writes_are_audited_and_searches_are_not() -> None:
    assert decide("POST", "/api/2.0/mlflow/runs/log-metric").writes
    assert not decide("POST", "/api/2.0/mlflow/runs/search").writes
    assert not decide("GET", "/api/v1/resources/deployments").writes
    assert decide("DELETE", "/api/v1/tokens/ci").writes


def test_json_bodies_are_required_on_json_endpoints_only() -> None:
    assert decide("POST", "/api/2.0/mlflow/runs/search").json
    assert decide("PUT", "/api/v1/resources/deployments/d").json
    assert not decide("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/model.pkl").json  # any bytes
    assert not decide("GET", "/api/2.0/mlflow/experiments/get").json
