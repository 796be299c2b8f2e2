"""`cnai apply / get / describe / delete` against a live control plane, and `cnai up` as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cnai.cli.main import app
from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, free_port, start_live_server

pytestmark = pytest.mark.integration
runner = CliRunner()

DEPLOYMENT = """\
apiVersion: cnai.io/v1
kind: Deployment
metadata: {name: wine, labels: {team: ml}}
spec:
  model: models:/wine@champion
  replicas: {min: 0, max: 2}
"""
MONITOR = """\
apiVersion: cnai.io/v1
kind: Monitor
metadata: {name: wine-drift}
spec:
  target: {deployment: wine}
  reference: {file: /data/reference.csv}
  window: {count: 200}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_live_server(Settings(home=tmp_path_factory.mktemp("resources")))
    yield live
    live.stop()


def invoke(server: LiveServer, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--tracking-uri", server.url], input=stdin)
    return result.exit_code, result.output


def test_apply_get_describe_delete(server: LiveServer, tmp_path: Path) -> None:
    spec = tmp_path / "wine.yaml"
    spec.write_text(DEPLOYMENT + "---\n" + MONITOR)
    code, out = invoke(server, "apply", "-f", str(spec))
    assert code == 0, out
    assert "deployment/wine created" in out
    assert "monitor/wine-drift created" in out
    code, out = invoke(server, "apply", "-f", str(spec))
    assert "deployment/wine unchanged" in out

    code, out = invoke(server, "get", "deployments", "-o", "json")
    assert code == 0, out
    (item,) = json.loads(out)
    assert item["spec"]["replicas"] == {"min": 0, "max": 2}
    assert item["spec"]["autoscaling"]["scaleToZeroAfterSeconds"] > 0  # the default, filled in on apply
    code, out = invoke(server, "get", "deploy")
    assert code == 0
    assert "wine" in out
    assert "READY" in out  # kind-specific columns
    code, out = invoke(server, "get", "monitors")
    assert "BREACHES" in out
    code, out = invoke(server, "describe", "monitor", "wine-drift")
    assert code == 0, out
    assert "count: 200" in out
    assert "has not yet acted" in out  # no controller runs beside `cnai server`

    code, out = invoke(server, "delete", "-f", str(spec))
    assert code == 0, out
    assert "deployment/wine deleted" in out
    code, out = invoke(server, "get", "monitors")
    assert "No monitors found" in out


HEAD = "apiVersion: cnai.io/v1\nkind: "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: {min: 3, max: 1}}\n",
            "model",
        ),
        (
            "apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {model: m, replicas: {max: 0}}\n",
            "max",
        ),
        ("apiVersion: cnai.io/v1\nkind: Pod\nmetadata: {name: a}\n", "Unknown kind"),
        ("apiVersion: cnai.io/v1\nkind: Monitor\nmetadata: {name: a}\nspec: {window: {count: 1}}\n", "Monitor"),
        ("not: [valid", "Not valid YAML"),
    ],
)
def test_bad_specs_are_refused_and_nothing_is_written(
    server: LiveServer, tmp_path: Path, text: str, message: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    code, out = invoke(server, "apply", "-f", str(spec))
    assert code == 1
    assert message in out
    assert httpx.get(f"{server.url}/api/v1/resources/deployments").json()["items"] == []


def test_apply_reads_stdin_and_reports_a_missing_file(server: LiveServer) -> None:
    code, out = invoke(server, "apply", "-f", "-", stdin=DEPLOYMENT)
    assert code == 0, out
    code, out = invoke(server, "apply", "-f", "/nonexistent.yaml")
    assert code == 1
    assert "No such file" in out
    invoke(server, "delete", "deployment", "wine")


def test_cli_without_a_server_says_how_to_start_one() -> None:
    result = runner.invoke(app, ["get", "deployments", "--tracking-uri", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "Start one with `cnai up`" in " ".join(result.output.split())  # rich wraps at 80 columns


def test_up_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNAI_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnai.cli.main", "up", "--port", str(port), "--home", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "cnai up exited"
            assert time.monotonic() < deadline, "cnai up did not start"
            time.sleep(0.1)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # uvicorn re-raises the SIGTERM it handled once shutdown is done: ended by the signal, cleanly.
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out
    assert f"http://127.0.0.1:{port}" in out
    assert "MLFLOW_TRACKING_URI" in out
    assert (tmp_path / "cnai.db").exists()
