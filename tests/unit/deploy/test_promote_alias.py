"""Promoting a canary of an alias-following deployment moves the alias in the real registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.deploy.api import alias_move, deploy_routes
from cnai.deploy.specs import KIND, validate_deployment_spec
from cnai.registry.store import RegistryStore
from cnai.resources import SYSTEM, Document, ResourceStore


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[ResourceStore, RegistryStore]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(engine)
    registry = RegistryStore(engine)
    registry.create_model("wine", [], "")
    for _ in range(2):
        registry.create_version("wine", "file:///models/wine", None, [], "", "", None)
    registry.set_alias("wine", "champion", "1")
    yield ResourceStore(engine, {KIND: validate_deployment_spec}), registry
    engine.dispose()


def apply(resources: ResourceStore, spec: dict[str, object]) -> None:
    resources.apply(Document("cnai.io/v1", KIND, "wine", spec), principal=SYSTEM)


def test_alias_move_only_for_a_version_of_the_same_model() -> None:
    canary = {"model": "models:/wine/2", "percent": 20}
    assert alias_move({"model": "models:/wine@champion", "canary": canary}) == ("wine", "champion", "2")
    assert alias_move({"model": "models:/wine/1", "canary": canary}) is None
    assert alias_move({"model": "models:/beer@champion", "canary": canary}) is None
    assert alias_move({"model": "models:/wine@champion", "canary": {"model": "models:/wine@challenger"}}) is None
    assert alias_move({"model": "models:/wine@champion", "canary": None}) is None


def test_promote_moves_the_alias_and_keeps_following_it(stores: tuple[ResourceStore, RegistryStore]) -> None:
    resources, registry = stores
    apply(resources, {"model": "models:/wine@champion", "canary": {"model": "models:/wine/2", "percent": 20}})
    client = TestClient(Starlette(routes=deploy_routes(resources, registry)))
    answer = client.post("/api/v1/deployments/wine/promote")
    assert answer.status_code == 200, answer.text
    assert answer.json()["alias"] == {"model": "wine", "alias": "champion", "version": "2"}
    spec = resources.get(KIND, "wine").spec
    assert (spec["model"], spec["canary"]) == ("models:/wine@champion", None)
    assert registry.get_by_alias("wine", "champion")["version"] == "2"
    second = client.post("/api/v1/deployments/wine/promote")  # no canary left: 409, alias untouched
    assert second.status_code == 409
    assert registry.get_by_alias("wine", "champion")["version"] == "2"


def test_without_a_registry_promote_pins_the_canary(stores: tuple[ResourceStore, RegistryStore]) -> None:
    resources, registry = stores
    apply(resources, {"model": "models:/wine@champion", "canary": {"model": "models:/wine/2", "percent": 20}})
    client = TestClient(Starlette(routes=deploy_routes(resources)))
    assert client.post("/api/v1/deployments/wine/promote").status_code == 200
    assert resources.get(KIND, "wine").spec["model"] == "models:/wine/2"
    assert registry.get_by_alias("wine", "champion")["version"] == "1"
