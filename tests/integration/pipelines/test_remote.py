"""A pipeline recorded in a remote control plane (--tracking-uri), through the MLflow REST API only,
and its DAG read back over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from cnai.pipelines import service
from cnai.settings import Settings
from tests.fixtures.servers import start_live_server
from tests.integration.pipelines.test_run import ARTIFACT_PIPELINE

pytestmark = pytest.mark.integration


def test_a_run_against_a_remote_server_records_runs_lineage_and_a_model(write_pipeline: Any, tmp_path: Path) -> None:
    server = start_live_server(Settings(home=tmp_path / "server"))
    try:
        path = write_pipeline("arts", ARTIFACT_PIPELINE)
        client_settings = Settings(home=tmp_path / "client", tracking_uri=server.url)
        report = service.run(service.load(path, None, {"rows": "6"}), client_settings, remote=True)
        assert report.status == "succeeded", report.error
        dag = httpx.get(f"{server.url}/api/v1/pipelines/runs/{report.run_id}").json()
        assert [n["name"] for n in dag["nodes"] if n["type"] == "step"] == ["make-data", "train", "evaluate"]
        assert {e["kind"] for e in dag["edges"]} == {"order", "input", "output", "registered"}
        assert [n["version"] for n in dag["nodes"] if n["type"] == "model_version"] == ["1"]
    finally:
        server.stop()
