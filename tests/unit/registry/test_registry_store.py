"""RegistryStore: version numbering, aliases, renames."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.errors import AlreadyExists, InvalidArgument, NotFound
from cnai.registry.store import RegistryStore, check_alias


@pytest.fixture
def registry(tmp_path: Path) -> RegistryStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    upgrade(engine)
    return RegistryStore(engine)


def test_versions_count_up_and_are_never_reused(registry: RegistryStore) -> None:
    registry.create_model("m", [], "")
    assert [registry.create_version("m", f"s{i}", None, [], None, None, None)["version"] for i in range(3)] == [
        "1",
        "2",
        "3",
    ]
    registry.delete_version("m", "3")
    assert registry.create_version("m", "s4", None, [], None, None, None)["version"] == "4"


def test_alias_moves_and_goes_with_its_version(registry: RegistryStore) -> None:
    registry.create_model("m", [], "")
    for _ in range(2):
        registry.create_version("m", "src", None, [], None, None, None)
    registry.set_alias("m", "champion", "1")
    registry.set_alias("m", "champion", "2")
    assert registry.get_by_alias("m", "champion")["version"] == "2"
    assert registry.get_model("m")["aliases"] == [{"alias": "champion", "version": "2"}]
    registry.delete_version("m", "2")
    with pytest.raises(NotFound):
        registry.get_by_alias("m", "champion")


def test_rename_keeps_versions_and_tags(registry: RegistryStore) -> None:
    registry.create_model("old", [("team", "a")], "d")
    registry.create_version("old", "src", None, [("k", "v")], None, None, None)
    registry.rename_model("old", "new")
    assert registry.get_version("new", "1")["tags"] == [{"key": "k", "value": "v"}]
    assert registry.get_model("new")["tags"] == [{"key": "team", "value": "a"}]
    with pytest.raises(NotFound):
        registry.get_model("old")
    registry.create_model("other", [], "")
    with pytest.raises(AlreadyExists):
        registry.rename_model("other", "new")


def test_latest_versions_per_stage(registry: RegistryStore) -> None:
    registry.create_model("m", [], "")
    for _ in range(3):
        registry.create_version("m", "src", None, [], None, None, None)
    registry.transition_stage("m", "1", "production", archive_existing=False)
    latest = {v["current_stage"]: v["version"] for v in registry.get_model("m")["latest_versions"]}
    assert latest == {"Production": "1", "None": "3"}
    assert [v["version"] for v in registry.latest_versions("m", ["Production"])] == ["1"]


@pytest.mark.parametrize("alias", ["latest", "v1", "Version12", "", "has space", "a/b"])
def test_reserved_or_malformed_aliases(alias: str) -> None:
    with pytest.raises(InvalidArgument):
        check_alias(alias)


def test_bad_version_and_unknown_model(registry: RegistryStore) -> None:
    with pytest.raises(NotFound):
        registry.get_version("nope", "1")
    registry.create_model("m", [], "")
    with pytest.raises(InvalidArgument):
        registry.get_version("m", "one")
    with pytest.raises(NotFound):
        registry.get_version("m", "7")
