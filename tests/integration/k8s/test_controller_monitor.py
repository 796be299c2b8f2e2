"""`cnai controller monitor`: the monitor controller alone, as a rendered Monitor's Deployment
(-f) and as the Helm chart (no -f) run it. A real `cnai serve` writes inference events to an
embedded bus; the controller process judges them in windows and records them in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from cnai.db.engine import make_engine
from cnai.resources import SYSTEM
from cnai.resources.documents import parse_document
from cnai.server import kinds
from cnai.serving.settings import ServeSettings
from cnai.settings import Settings
from tests.fixtures import serving_models as sm
from tests.fixtures.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WINDOW = 20


def monitor_doc(tmp_path: Path, name: str = "iris-drift") -> dict[str, object]:
    reference, _ = sm.training_frame(200, seed=3)
    path = tmp_path / "reference.csv"
    reference.to_csv(path, index=False)
    return {
        "apiVersion": "cnai.io/v1",
        "kind": "Monitor",
        "metadata": {"name": name},
        "spec": {"target": {"model": "iris"}, "reference": {"file": str(path)}, "window": {"count": WINDOW}},
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = sm.save_logistic(tmp_path / "iris-model")
    bus = f"sqlite:///{tmp_path / 'events.db'}"
    server = sm.start_serving(ServeSettings(models=[f"iris={model}"], home=tmp_path, event_bus=bus))
    yield server.url, bus
    server.stop()


def start_controller(tmp_path: Path, bus: str, *args: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp_path / f"controller-{port}.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CNAI_")},
        "CNAI_HOME": str(tmp_path / "home"),
        "CNAI_STORE": f"sqlite:///{tmp_path / 'cnai.db'}",
        "CNAI_EVENT_BUS": bus,
        "CNAI_PORT": str(port),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cnai.cli.main", "controller", "monitor", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}", log


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"controller not healthy: {log.read_text()}")


def send(url: str, rows: int) -> None:
    frame, _ = sm.training_frame(rows, seed=5)
    for start in range(0, rows, 10):
        body = {"dataframe_split": {"columns": sm.FEATURES, "data": frame.to_numpy()[start : start + 10].tolist()}}
        assert httpx.post(f"{url}/invocations", json=body, timeout=30).status_code == 200


def monitor_status(tmp_path: Path, name: str) -> dict[str, object]:
    settings = Settings(home=tmp_path / "home", store=f"sqlite:///{tmp_path / 'cnai.db'}")
    engine = make_engine(settings.store)
    try:
        return dict(kinds.resource_store(engine, settings).get("Monitor", name).status or {})
    finally:
        engine.dispose()


def wait_windows(tmp_path: Path, name: str, windows: int) -> dict[str, object]:
    deadline = time.monotonic() + 90
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = monitor_status(tmp_path, name)
        if int(status.get("windows", 0)) >= windows:  # type: ignore[call-overload]
            return status
        time.sleep(0.5)
    raise AssertionError(f"monitor {name} did not close {windows} windows: {status}")


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal it handled once shutdown is complete: -SIGTERM, after a clean stop.
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()


def test_with_f_applies_the_spec_and_judges_windows(served: tuple[str, str], tmp_path: Path) -> None:
    url, bus = served
    spec = tmp_path / "monitor.yaml"
    spec.write_text(yaml.safe_dump(monitor_doc(tmp_path)))
    proc, health, log = start_controller(tmp_path, bus, "-f", str(spec))
    try:
        wait_healthy(proc, health, log)
        send(url, 2 * WINDOW)
        status = wait_windows(tmp_path, "iris-drift", 2)
        assert status["phase"] == "Ready"
        metrics = httpx.get(f"{health}/metrics", timeout=5).text
        assert 'cnai_monitor_windows_total{monitor="iris-drift"}' in metrics
    finally:
        stop(proc, log)


def test_without_f_runs_the_stores_monitors_and_holds_the_lock(served: tuple[str, str], tmp_path: Path) -> None:
    url, bus = served
    settings = Settings(home=tmp_path / "home", store=f"sqlite:///{tmp_path / 'cnai.db'}")
    from cnai.db.migrate import upgrade

    engine = make_engine(settings.store)
    upgrade(engine)
    kinds.resource_store(engine, settings).apply(parse_document(monitor_doc(tmp_path, "stored")), principal=SYSTEM)
    engine.dispose()
    proc, health, log = start_controller(tmp_path, bus)
    try:
        wait_healthy(proc, health, log)
        send(url, WINDOW)
        assert wait_windows(tmp_path, "stored", 1)["phase"] == "Ready"
        second, _, second_log = start_controller(tmp_path, bus)
        assert second.wait(timeout=60) == 1
        lines = second_log.read_text().strip().splitlines()
        assert len(lines) == 1, lines
        assert "cnai controller monitor" in lines[0], lines
    finally:
        stop(proc, log)


def test_a_spec_that_is_not_a_monitor_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "d.yaml"
    spec.write_text("apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {model: models:/w/1}\n")
    proc, _, log = start_controller(tmp_path, f"sqlite:///{tmp_path / 'events.db'}", "-f", str(spec))
    assert proc.wait(timeout=60) == 1
    assert "runs Monitors only" in log.read_text()
