"""Lineage: every run's DAG has all its edges (artifact -> step -> artifact -> model version), read
back through the /api/v1 route a UI uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cnai.db.engine import make_engine
from cnai.pipelines.api import pipeline_dag
from cnai.registry.store import RegistryStore
from cnai.server.app import create_app
from cnai.settings import Settings
from cnai.tracking.runs import RunStore
from tests.integration.pipelines.test_run import ARTIFACT_PIPELINE

pytestmark = pytest.mark.integration


def _expected_edges(dag: dict[str, Any]) -> set[tuple[str, str, str]]:
    """The edges the artifact pipeline must have, derived from its steps' recorded outputs."""
    by_id = {n["id"]: n for n in dag["nodes"]}
    out_of = {e["from"]: e["to"] for e in dag["edges"] if e["kind"] == "output"}
    data, model, metrics = out_of["step:make-data"], out_of["step:train"], out_of["step:evaluate"]
    models = [n["id"] for n in dag["nodes"] if n["type"] == "model_version"]
    assert len(models) == 1
    assert all(a in by_id for a in (data, model, metrics))
    return {
        ("step:make-data", "step:train", "order"),
        ("step:make-data", "step:evaluate", "order"),
        ("step:train", "step:evaluate", "order"),
        (data, "step:train", "input"),
        (data, "step:evaluate", "input"),
        (model, "step:evaluate", "input"),
        ("step:make-data", data, "output"),
        ("step:train", model, "output"),
        ("step:evaluate", metrics, "output"),
        (model, models[0], "registered"),
    }


@pytest.mark.slow
def test_a_hundred_runs_leave_no_missing_lineage_edge(write_pipeline: Any, run_pipeline: Any, cnai_home: Path) -> None:
    path = write_pipeline("arts", ARTIFACT_PIPELINE)
    runs = RunStore(make_engine(Settings(home=cnai_home).store))
    missing: list[str] = []
    digests: dict[int, set[str]] = {}
    for i in range(100):
        rows = 10 + i % 4  # four distinct inputs: some runs execute, most hit the cache
        report = run_pipeline(path, rows=rows)
        assert report.status == "succeeded", report.error
        dag = pipeline_dag(runs, report.run_id)
        edges = {(e["from"], e["to"], e["kind"]) for e in dag["edges"]}
        missing += [f"run {i}: {edge}" for edge in _expected_edges(dag) - edges]
        digests.setdefault(rows, set()).update(n["id"] for n in dag["nodes"] if n["type"] == "artifact")
    assert missing == []
    # Cached runs point at the very artifacts their first run produced, and only four versions
    # were registered (one per distinct input), not one per run.
    assert all(len(d) == 3 for d in digests.values())
    versions, _ = RegistryStore(runs.engine).search_versions("name = 'pipeline-model'", 100, None, None)
    assert len(versions) == 4


def test_the_dag_route_serves_states_durations_and_cache_hits(
    write_pipeline: Any, run_pipeline: Any, cnai_home: Path
) -> None:
    path = write_pipeline("arts", ARTIFACT_PIPELINE)
    run_pipeline(path, rows=5)
    report = run_pipeline(path, rows=5)
    client = TestClient(create_app(Settings(home=cnai_home)), base_url="http://127.0.0.1")
    body = client.get(f"/api/v1/pipelines/runs/{report.run_id}").json()
    steps = [n for n in body["nodes"] if n["type"] == "step"]
    assert [s["name"] for s in steps] == ["make-data", "train", "evaluate"]
    assert all(s["cached"] and s["state"] == "succeeded" and s["duration_ms"] is not None for s in steps)
    assert body["status"] == "succeeded"
    assert body["pipeline"] == "arts"
    not_pipeline = client.get(f"/api/v1/pipelines/runs/{steps[0]['run_id']}")
    assert not_pipeline.status_code == 400
    assert "not a pipeline run" in not_pipeline.json()["error"]
    assert client.get("/api/v1/pipelines/runs/0123456789abcdef0123456789abcdef").status_code == 404
