"""The resource store and /api/v1/resources, on SQLite and PostgreSQL, with a test-only kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.db.schema import resources
from cnai.errors import InvalidArgument, NotFound
from cnai.resources import SYSTEM, Document, ResourceStore
from cnai.resources import api as resources_api
from cnai.resources.store import resolve_kind
from tests.fixtures.servers import postgres_database


class WidgetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = 1
    color: str = "red"


def validate_widget(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        return WidgetSpec.model_validate(spec).model_dump()
    except ValidationError as exc:
        raise InvalidArgument(f"Invalid Widget spec: {exc.errors()[0]['msg']}") from None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResourceStore]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
        upgrade(engine)
        yield ResourceStore(engine, {"Widget": validate_widget})
        engine.dispose()
        return
    with postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        yield ResourceStore(engine, {"Widget": validate_widget})
        engine.dispose()


def widget(name: str = "w1", **spec: Any) -> Document:
    return Document("cnai.io/v1", "Widget", name, spec)


def count(store: ResourceStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(resources)).scalar_one())


def test_apply_creates_then_is_unchanged_then_configures(store: ResourceStore) -> None:
    created, outcome = store.apply(widget(size=2), principal=SYSTEM)
    assert outcome == "created"
    assert (created.generation, created.spec) == (1, {"size": 2, "color": "red"})  # defaults filled in
    same, outcome = store.apply(
        widget(size=2, color="red"), principal=SYSTEM
    )  # normalised spec equal: no new generation
    assert (outcome, same.generation) == ("unchanged", 1)
    changed, outcome = store.apply(widget(size=3), principal=SYSTEM)
    assert (outcome, changed.generation, changed.spec["size"]) == ("configured", 2, 3)
    assert store.get("Widget", "w1").spec["size"] == 3


def test_status_is_kept_apart_from_spec(store: ResourceStore) -> None:
    store.apply(widget(), principal=SYSTEM)
    store.set_status("Widget", "w1", {"phase": "Ready"}, observed_generation=1)
    again, _ = store.apply(widget(size=9), principal=SYSTEM)
    assert again.status == {"phase": "Ready"}
    assert (again.generation, again.observed_generation) == (2, 1)  # status is now behind the spec


def test_update_spec_validates_and_bumps_generation(store: ResourceStore) -> None:
    store.apply(widget(), principal=SYSTEM)
    assert store.update_spec("Widget", "w1", {"size": 5}).generation == 2
    with pytest.raises(InvalidArgument):
        store.update_spec("Widget", "w1", {"size": "huge"})
    assert store.get("Widget", "w1").spec["size"] == 5


def test_invalid_spec_or_unknown_kind_writes_nothing(store: ResourceStore) -> None:
    with pytest.raises(InvalidArgument, match="Invalid Widget spec"):
        store.apply(widget(size="big"), principal=SYSTEM)
    with pytest.raises(InvalidArgument, match="Unknown kind 'Gadget'"):
        store.apply(Document("cnai.io/v1", "Gadget", "g", {}), principal=SYSTEM)
    assert count(store) == 0


def test_list_get_delete(store: ResourceStore) -> None:
    for name in ("b", "a", "c"):
        store.apply(widget(name), principal=SYSTEM)
    assert [r.name for r in store.list("Widget")] == ["a", "b", "c"]
    assert store.delete("Widget", "b").name == "b"
    with pytest.raises(NotFound):
        store.get("Widget", "b")
    with pytest.raises(NotFound):
        store.delete("Widget", "b")
    store.set_status("Widget", "b", {"phase": "x"}, 1)  # a controller reporting on a deleted resource
    assert count(store) == 2


def test_kind_spellings() -> None:
    kinds = ["Deployment", "Monitor"]
    assert {resolve_kind(k, kinds) for k in ("deployment", "deployments", "deploy", "Deployment")} == {"Deployment"}
    assert resolve_kind("mon", kinds) == "Monitor"
    with pytest.raises(InvalidArgument, match=r"Deployment \(deployments\), Monitor \(monitors\)"):
        resolve_kind("pods", kinds)


def test_api_round_trip_and_errors(store: ResourceStore) -> None:
    client = TestClient(Starlette(routes=resources_api.routes(store)))
    doc = {"apiVersion": "cnai.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 4}}
    first = client.put("/api/v1/resources/widgets/w1", json=doc)
    assert (first.status_code, first.json()["outcome"]) == (201, "created")
    assert client.put("/api/v1/resources/widget/w1", json=doc).json()["outcome"] == "unchanged"
    got = client.get("/api/v1/resources/widgets/w1").json()
    assert got["spec"] == {"size": 4, "color": "red"}
    assert got["metadata"]["generation"] == 1
    assert [i["metadata"]["name"] for i in client.get("/api/v1/resources/widgets").json()["items"]] == ["w1"]

    bad = [
        (client.put("/api/v1/resources/widgets/w2", content=b"{not json"), 400),
        (client.put("/api/v1/resources/widgets/w2", json={**doc, "spec": {"size": "x"}}), 400),
        (client.put("/api/v1/resources/widgets/w2", json=doc), 400),  # path and document disagree
        (client.put("/api/v1/resources/widgets/w2", json=[1, 2]), 400),
        (client.put("/api/v1/resources/gadgets/w2", json=doc), 400),
        (client.put("/api/v1/resources/widgets/w2", content=b"x" * (2 * 1024 * 1024)), 413),
        (client.get("/api/v1/resources/widgets/nope"), 404),
        (client.get("/api/v1/resources/widgets/Bad%20Name"), 400),
        (client.delete("/api/v1/resources/widgets/nope"), 404),
    ]
    for response, status in bad:
        assert response.status_code == status, response.text
        assert set(response.json()) == {"error", "code"}
    assert count(store) == 1
    assert client.delete("/api/v1/resources/widgets/w1").json()["metadata"]["name"] == "w1"
    assert count(store) == 0
