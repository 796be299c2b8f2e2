"""Every Grafana dashboard query in deploy/grafana/ names only metrics that cnai exports.

Real servers, real scrapes: `cnai up` (the control plane with its deployment and monitor
controllers, which register their metric families on start) and `cnai serve` with a small
scikit-learn model that has answered a request. A metric counts as exported when a scrape lists
it, expanded by its type the way Prometheus names samples (tests/fixtures/promql.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures import serving_models as sm
from tests.fixtures.promql import dashboard_queries, exposed_names, metric_names
from tests.fixtures.servers import free_port
from tests.integration.container.podman import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DASHBOARDS = sorted((REPO / "deploy" / "grafana").rglob("*.json"))


def _start(args: list[str], home: Path, health: str) -> Iterator[str]:
    port = free_port()
    log = home / f"{args[0]}.log"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CNAI_HOME": str(home)}
    cmd = [sys.executable, "-m", "cnai.cli.main", *args, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"{args[0]} exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(url + health, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{args[0]} did not start: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    root = tmp_path_factory.mktemp("dashboards")
    model = sm.save_logistic(root / "model")
    plane = _start(["up"], root / "up", "/health")
    serve = _start(["serve", str(model), "--no-inference-log"], root / "serve", "/v2/health/ready")
    try:
        plane_url, serve_url = next(plane), next(serve)
        x, _ = sm.training_frame(n=3)
        body = {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": x.to_numpy().ravel().tolist()}]}
        assert httpx.post(f"{serve_url}/v2/models/model/infer", json=body).status_code == 200
        scrapes = [httpx.get(f"{url}/metrics").text for url in (plane_url, serve_url)]
    finally:
        for gen in (plane, serve):
            gen.close()
    names = set().union(*(exposed_names(text) for text in scrapes))
    # The scrape itself must be what it claims: the families of each server are there.
    assert {"cnai_deployment_desired_replicas", "cnai_drift_share", "process_cpu_seconds_total"} <= names
    assert {"cnai_serving_requests_total", "cnai_serving_request_duration_seconds_bucket"} <= names
    return names


def test_dashboards_exist() -> None:
    titles = {json.loads(path.read_text())["uid"] for path in DASHBOARDS}
    assert titles >= {"cnai-control-plane", "cnai-serving", "cnai-deployments", "cnai-monitors"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_names_exported_metrics(path: Path, exported: set[str]) -> None:
    dashboard = json.loads(path.read_text())
    queries = list(dashboard_queries(dashboard))
    assert queries, f"{path.name} has no queries"
    unknown = {f"{where}: {name}" for where, expr in queries for name in metric_names(expr) if name not in exported}
    assert not unknown, f"{path.name} asks for metrics cnai does not export:\n" + "\n".join(sorted(unknown))
    named = set().union(*(metric_names(expr) for _, expr in queries))
    assert named, f"{path.name}: no metric names found in its queries"
