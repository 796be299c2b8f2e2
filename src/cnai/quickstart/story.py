"""The quickstart's story, step by step, against a private `cnai up`.

train a sweep → register the best as ``champion`` → deploy it → normal traffic → the input shifts
→ the drift monitor breaches and its command retrains on fresh labelled data → the new version
goes out as a 20% canary → live comparison on labelled traffic → promotion → summary.

Every step goes through the public surfaces a user has: the mlflow client, YAML-shaped specs on
``/api/v1``, and OIP v2 requests through the deployment's router.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cnai.deploy.replicas import free_port
from cnai.errors import NotFound, Unavailable
from cnai.quickstart import data, traffic, training
from cnai.quickstart.plane import PrivatePlane, wait_for

DEPLOYMENT = "wine"
MONITOR = "wine-drift"
WINDOW_ROWS = 100
NORMAL_REQUESTS = 300
SHIFTED_REQUESTS = 300
CANARY_REQUESTS = 600
CANARY_PERCENT = 20


@dataclass
class Outcome:
    candidates: list[training.Candidate]
    champion: str
    retrained: str
    normal_windows: int
    drift_share: float
    drifted_features: list[str]
    canary_share: float
    accuracy: dict[str, tuple[int, float]]
    monitored_accuracy: float | None
    promoted: bool
    failed_requests: int
    report: Path
    plane_url: str
    home: Path
    seconds: float


def run(home: Path, console: Console) -> Outcome:
    started = time.perf_counter()
    _quiet_mlflow()
    work = home / "quickstart"
    _reset(home, work)
    wine = data.load()
    rng = np.random.default_rng(data.SEED)
    pool, pool_labels = wine.everything
    reference = training.write_csv(pool, work / "reference.csv")
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TextColumn("[cyan]{task.fields[count]}"),
        TimeElapsedColumn(),
    )
    plane = PrivatePlane(home, free_port("127.0.0.1"), f"sqlite:///{work / 'events.db'}", work / "cnai-up.log")
    with plane, Progress(*columns, console=console) as bar, _silenced():
        with _step(bar, f"Starting cnai up at {plane.url}"):
            plane.wait_ready()

        task = _counted(bar, "Training a sweep, tracked with mlflow", len(training.SWEEP))
        candidates = training.sweep(plane.url, wine.train, wine.train_labels, wine.test, wine.test_labels, task)
        best = max(candidates, key=lambda c: c.accuracy)
        with _step(bar, f"Registering the best (C={best.c}) as champion"):
            champion = training.register(plane.url, best, alias="champion")

        with _step(bar, f"Deploying v{champion} behind a router, with a monitor"):
            fresh_path = work / "fresh-labelled.csv"
            marker = work / "retrained-version"
            plane.apply("Deployment", DEPLOYMENT, _deployment_spec())
            plane.apply("Monitor", MONITOR, _monitor_spec(reference, plane.url, fresh_path, marker))
            router = _wait_deployment(plane, canary=False)

        normal_rows, _ = data.traffic(pool, pool_labels, NORMAL_REQUESTS, rng)
        served = _send(bar, "Sending normal traffic", router, normal_rows)
        failed = served.failed
        with _step(bar, "Monitor: normal traffic, no drift"):
            normal_windows = _wait_windows(plane, NORMAL_REQUESTS // WINDOW_ROWS)

        # The new supplier's wines arrive, and some of them are labelled by the lab (fresh data).
        fresh_rows, fresh_labels = data.traffic(pool, pool_labels, 200, rng)
        training.write_csv(data.shift(fresh_rows), fresh_path, labels=fresh_labels)
        shifted_rows, _ = data.traffic(pool, pool_labels, SHIFTED_REQUESTS, rng)
        served = _send(bar, "Shifting the input: a new supplier", router, data.shift(shifted_rows))
        failed += served.failed
        with _step(bar, "Monitor flags drift, its action retrains"):
            breach = _wait_breach(plane)
            retrained = wait_for(
                lambda: marker.read_text().strip() if marker.exists() else None,
                120,
                f"The retraining command did not finish; see {work / 'cnai-up.log'}",
            )
            # The new supplier is the new normal: the monitor now compares with what v2 learned from.
            plane.apply("Monitor", MONITOR, _monitor_spec(fresh_path, plane.url, fresh_path, marker))

        with _step(bar, f"Rolling out v{retrained} as a {CANARY_PERCENT}% canary"):
            plane.apply("Deployment", DEPLOYMENT, _deployment_spec(canary=retrained))
            router = _wait_deployment(plane, canary=True)

        live_rows, live_labels = data.traffic(pool, pool_labels, CANARY_REQUESTS, rng)
        live_started = int(time.time() * 1000)
        served = _send(bar, "Comparing champion and canary live", router, data.shift(live_rows))
        failed += served.failed
        _feedback(plane, served, live_labels)
        monitored_accuracy = _monitored_accuracy(plane, since_ms=live_started)
        accuracy = served.accuracy_by_version(live_labels)
        canary_share = served.share_by_version().get(retrained, 0.0)

        promoted = accuracy.get(retrained, (0, 0.0))[1] > accuracy.get(champion, (0, 1.0))[1]
        if promoted:
            with _step(bar, f"Promoting v{retrained} to champion"):
                _promote(plane, retrained)
        report = _report(work, pool, data.shift(shifted_rows))
    return Outcome(
        candidates=candidates,
        champion=champion,
        retrained=retrained,
        normal_windows=normal_windows,
        drift_share=float(breach.get("driftShare", 0.0)),
        drifted_features=list(breach.get("driftedFeatures", [])),
        canary_share=canary_share,
        accuracy=accuracy,
        monitored_accuracy=monitored_accuracy,
        promoted=promoted,
        failed_requests=failed,
        report=report,
        plane_url=plane.url,
        home=home,
        seconds=time.perf_counter() - started,
    )


def _deployment_spec(canary: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": f"models:/{training.MODEL_NAME}@champion",
        "servedName": training.MODEL_NAME,
        "replicas": {"min": 1, "max": 2},
    }
    if canary:
        spec["canary"] = {"model": f"models:/{training.MODEL_NAME}/{canary}", "percent": CANARY_PERCENT}
    return spec


def _monitor_spec(reference: Path, plane_url: str, fresh: Path, marker: Path) -> dict[str, Any]:
    retrain = [sys.executable, "-m", "cnai.quickstart.retrain", "--tracking-uri", plane_url]
    retrain += ["--fresh", str(fresh), "--marker", str(marker)]
    return {
        "target": {"model": {"name": training.MODEL_NAME}},
        "reference": {"file": str(reference)},
        "features": data.MONITORED,
        "window": {"count": WINDOW_ROWS},
        "tests": {"performance": {"task": "classification", "thresholds": {"accuracy": 0.9}, "minLabels": 50}},
        "actions": [{"alert": {}}, {"command": {"argv": retrain, "timeoutSeconds": 120}}],
    }


def _wait_deployment(plane: PrivatePlane, *, canary: bool, timeout: float = 90) -> str:
    """The router's URL once the deployment (and its canary, if asked) serves."""

    def ready() -> str | None:
        resource = plane.get("Deployment", DEPLOYMENT)
        status = resource["status"]
        if status.get("observedGeneration", 0) < resource["metadata"]["generation"]:
            return None
        if status.get("phase") != "Ready" or (canary and not (status.get("canary") or {}).get("ready")):
            return None
        url = status.get("url")
        return str(url) if url else None

    return wait_for(ready, timeout, f"Deployment {DEPLOYMENT} did not become ready in {timeout:.0f}s")


def _wait_windows(plane: PrivatePlane, windows: int, timeout: float = 60) -> int:
    def evaluated() -> int | None:
        status = plane.get("Monitor", MONITOR)["status"]
        if status.get("breaches", 0):
            raise Unavailable(f"The monitor flagged normal traffic as drifted: {status}")
        count = int(status.get("windows", 0))
        return count if count >= windows else None

    return wait_for(evaluated, timeout, f"Monitor {MONITOR} did not evaluate {windows} windows in {timeout:.0f}s")


def _wait_breach(plane: PrivatePlane, timeout: float = 60) -> dict[str, Any]:
    def breached() -> dict[str, Any] | None:
        status: dict[str, Any] = plane.get("Monitor", MONITOR)["status"]
        last: dict[str, Any] = status.get("lastWindow") or {}
        return last if status.get("breaches", 0) and last.get("breached") else None

    return wait_for(breached, timeout, f"Monitor {MONITOR} did not flag the shifted traffic in {timeout:.0f}s")


def _send(bar: Progress, description: str, router: str, rows: Any) -> traffic.Served:
    return traffic.send(router, training.MODEL_NAME, rows, _counted(bar, description, len(rows)))


def _counted(bar: Progress, description: str, total: int) -> Callable[[], None]:
    """A task showing ``done/total``; returns the function that counts one more."""
    task = bar.add_task(description, total=total, count=f"0/{total}")
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        bar.update(task, advance=1, count=f"{done}/{total}")

    return advance


def _feedback(plane: PrivatePlane, served: traffic.Served, labels: np.ndarray) -> None:
    """The lab's labels for the live traffic, posted as ground truth by request id."""
    items = [
        {"request_id": rid, "label": int(label)} for rid, label in zip(served.request_ids, labels, strict=True) if rid
    ]
    for start in range(0, len(items), 500):
        plane.post("/api/v1/feedback", {"feedback": items[start : start + 500]})


def _monitored_accuracy(plane: PrivatePlane, since_ms: int, timeout: float = 20) -> float | None:
    """The monitor's own live accuracy over the labelled windows, once the labels are joined."""

    def joined() -> float | None:
        windows = plane.http.get(f"/api/v1/monitors/{MONITOR}/windows", params={"limit": 50}).json()["windows"]
        scored = [
            w["performance"]
            for w in windows
            if w["start_ms"] >= since_ms and (w.get("performance") or {}).get("accuracy") is not None
        ]
        labelled = sum(p["labelled"] for p in scored)
        if labelled < CANARY_REQUESTS * 0.9:  # most windows joined with their labels
            return None
        return float(sum(p["accuracy"] * p["labelled"] for p in scored) / labelled)

    try:
        return wait_for(joined, timeout, "labels not joined yet", interval=0.5)
    except Unavailable:
        return None


def _reset(home: Path, work: Path) -> None:
    """Make a rerun start like the first run: the quickstart's own Deployment and Monitor, and the
    monitor's history, are removed before the plane starts (so no controller acts on them). The
    quickstart's event log is kept: its offsets live in the database. Runs and models stay."""
    work.mkdir(parents=True, exist_ok=True)
    for leftover in ("fresh-labelled.csv", "retrained-version", "retrain.lock", "drift-report.html"):
        (work / leftover).unlink(missing_ok=True)
    if not (home / "cnai.db").exists():
        return
    from cnai.db.engine import make_engine
    from cnai.db.migrate import upgrade
    from cnai.monitoring.monitor.store import MonitorStore
    from cnai.resources import ResourceStore

    engine = make_engine(f"sqlite:///{home / 'cnai.db'}")
    try:
        upgrade(engine)
        resources = ResourceStore(engine, {})
        for kind, name in (("Deployment", DEPLOYMENT), ("Monitor", MONITOR)):
            with contextlib.suppress(NotFound):
                resources.delete(kind, name)
        MonitorStore(engine).purge(MONITOR)
    finally:
        engine.dispose()


def _promote(plane: PrivatePlane, version: str) -> None:
    """`cnai promote wine`: the champion alias moves to the canary's version, the canary goes, and
    the deployment (still following the alias) keeps the canary's warm replica as its primary."""
    plane.post(f"/api/v1/deployments/{DEPLOYMENT}/promote")

    def rolled() -> bool:
        status = plane.get("Deployment", DEPLOYMENT)["status"]
        return status.get("phase") == "Ready" and str((status.get("model") or {}).get("version")) == version

    wait_for(rolled, 90, f"Deployment {DEPLOYMENT} did not roll over to v{version}")


def _report(work: Path, reference: Any, shifted: Any) -> Path:
    import pyarrow as pa

    from cnai.monitoring.drift import DriftOptions, compare
    from cnai.monitoring.io import ArrowSource
    from cnai.monitoring.report import write_html

    report = compare(
        ArrowSource(pa.Table.from_pandas(reference[data.MONITORED], preserve_index=False), name="the wines we knew"),
        ArrowSource(pa.Table.from_pandas(shifted[data.MONITORED], preserve_index=False), name="the new supplier"),
        DriftOptions(columns=data.MONITORED),
    )
    return write_html(report, work / "drift-report.html", title="cnai quickstart: new supplier vs training data")


@contextlib.contextmanager
def _step(bar: Progress, description: str) -> Iterator[None]:
    task = bar.add_task(description, total=1, count="")
    yield
    bar.update(task, completed=1)


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """mlflow prints links and notices of its own; the progress bar owns the terminal."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _quiet_mlflow() -> None:
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
