"""Helpers for the tune tests: objectives by file path, the runs a study wrote to the embedded store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cnai.settings import Settings
from cnai.tune.tracking import StoreTracker

OBJECTIVES = Path(__file__).parent / "objectives.py"


def objective(name: str) -> str:
    return f"{OBJECTIVES}:{name}"


def tag(run: dict[str, Any], key: str) -> str | None:
    return next((t["value"] for t in run["data"].get("tags", []) if t["key"] == key), None)


def metric(run: dict[str, Any], key: str) -> float | None:
    return next((m["value"] for m in run["data"].get("metrics", []) if m["key"] == key), None)


def param(run: dict[str, Any], key: str) -> str | None:
    return next((p["value"] for p in run["data"].get("params", []) if p["key"] == key), None)


def child_runs(home: Path, experiment: str, parent_run_id: str) -> list[dict[str, Any]]:
    tracker = StoreTracker(Settings(home=home))
    try:
        return tracker.children(tracker.experiment(experiment), parent_run_id)
    finally:
        tracker.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")
