"""Where a study's runs go: the control plane over MLflow's REST API, or the embedded store.

Two backends with one small interface, because the CLI either names a server (``--tracking-uri``,
``CNAI_TRACKING_URI``) or works on the store under ``CNAI_HOME`` directly, the way the server
itself would write it (no server needed for a local study). The driver never waits on either:
``TrialLog`` hands writes to one background thread, in order, so a slow store costs the study
nothing but a queue (the study's journal stays the source of truth; ``reconcile`` repairs runs
that a killed driver left behind).
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from cnai.errors import CnaiError, NotFound, Unavailable
from cnai.settings import Settings

PARENT_TAG = "mlflow.parentRunId"
TRIAL_TAG = "cnai.tune.trial"
STUDY_TAG = "cnai.tune.study"
RUN_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
Metric = tuple[str, float, int, int]  # key, value, timestamp ms, step


class Tracker(ABC):
    """The few tracking calls a study makes; every write for one run is one batch where it can be."""

    @abstractmethod
    def experiment(self, name: str) -> str: ...

    @abstractmethod
    def create_run(self, experiment_id: str, name: str, tags: dict[str, str], start_ms: int) -> str: ...

    @abstractmethod
    def log(self, run_id: str, metrics: Sequence[Metric], params: dict[str, str], tags: dict[str, str]) -> None: ...

    @abstractmethod
    def end(self, run_id: str, status: str, end_ms: int | None) -> None: ...

    @abstractmethod
    def children(self, experiment_id: str, parent_run_id: str) -> list[dict[str, Any]]:
        """Child runs as MLflow ``Run`` dicts."""

    def close(self) -> None:
        return None

    def log_chunked(self, run_id: str, metrics: Sequence[Metric], params: dict[str, str], tags: dict[str, str]) -> None:
        """MLflow caps a batch at 1000 metrics and 100 params; a long trial's steps take a few."""
        items = list(params.items())
        self.log(run_id, metrics[:900], dict(items[:100]), tags)
        for i in range(900, len(metrics), 1000):
            self.log(run_id, metrics[i : i + 1000], {}, {})
        for i in range(100, len(items), 100):
            self.log(run_id, [], dict(items[i : i + 100]), {})


class StoreTracker(Tracker):
    """cnai's own stores on the settings' database (SQLite under CNAI_HOME by default)."""

    def __init__(self, settings: Settings) -> None:
        from cnai.db.engine import make_engine
        from cnai.db.migrate import upgrade
        from cnai.tracking.experiments import ExperimentStore
        from cnai.tracking.runs import RunStore

        settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.store)
        upgrade(self.engine)
        self.experiments = ExperimentStore(self.engine)
        self.experiments.ensure_default()
        self.runs = RunStore(self.engine)
        self.settings = settings

    def experiment(self, name: str) -> str:
        try:
            return str(self.experiments.get_by_name(name)["experiment_id"])
        except NotFound:
            return self.experiments.create(name, None, [])

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str], start_ms: int) -> str:
        return str(self.runs.create(experiment_id, "", start_ms, list(tags.items()), name)["info"]["run_id"])

    def log(self, run_id: str, metrics: Sequence[Metric], params: dict[str, str], tags: dict[str, str]) -> None:
        from cnai.tracking.metrics import MetricPoint

        points = [MetricPoint(k, v, ts, s) for k, v, ts, s in metrics]
        self.runs.log_batch(run_id, points, list(params.items()), list(tags.items()))

    def end(self, run_id: str, status: str, end_ms: int | None) -> None:
        self.runs.update(run_id, status, end_ms, None)

    def children(self, experiment_id: str, parent_run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token = None
        while True:
            page, token = self.runs.search(
                [experiment_id], f"tags.`{PARENT_TAG}` = '{parent_run_id}'", "ALL", 1000, None, token
            )
            found += page
            if not token:
                return found

    def close(self) -> None:
        self.engine.dispose()


class HttpTracker(Tracker):
    """A cnai (or MLflow) tracking server over the MLflow REST API 2.0."""

    def __init__(self, uri: str, token: str = "") -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base = uri.rstrip("/")
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def _call(self, method: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"/api/2.0/mlflow/{endpoint}"
        try:
            if method == "GET":
                response = self.http.get(url, params=body)
            else:
                response = self.http.post(url, json=body)
        except httpx.TransportError as exc:
            raise Unavailable(
                f"No tracking server answers at {self.base} ({exc}); start one or fix --tracking-uri."
            ) from exc
        data: dict[str, Any] = response.json() if response.content else {}
        if response.status_code == 404 and data.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(str(data.get("message")))
        if response.status_code >= 400:
            raise CnaiError(f"{self.base} refused {endpoint}: {data.get('message') or response.text[:200]}")
        return data

    def experiment(self, name: str) -> str:
        try:
            return str(
                self._call("GET", "experiments/get-by-name", {"experiment_name": name})["experiment"]["experiment_id"]
            )
        except NotFound:
            return str(self._call("POST", "experiments/create", {"name": name})["experiment_id"])

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str], start_ms: int) -> str:
        body = {
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": start_ms,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        return str(self._call("POST", "runs/create", body)["run"]["info"]["run_id"])

    def log(self, run_id: str, metrics: Sequence[Metric], params: dict[str, str], tags: dict[str, str]) -> None:
        body = {
            "run_id": run_id,
            "metrics": [{"key": k, "value": v, "timestamp": ts, "step": s} for k, v, ts, s in metrics],
            "params": [{"key": k, "value": v} for k, v in params.items()],
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        self._call("POST", "runs/log-batch", body)

    def end(self, run_id: str, status: str, end_ms: int | None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_ms is not None:
            body["end_time"] = end_ms
        self._call("POST", "runs/update", body)

    def children(self, experiment_id: str, parent_run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token = None
        while True:
            body: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "filter": f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
                "run_view_type": "ALL",
                "max_results": 1000,
            }
            if token:
                body["page_token"] = token
            page = self._call("POST", "runs/search", body)
            found += page.get("runs", [])
            token = page.get("next_page_token")
            if not token:
                return found

    def close(self) -> None:
        self.http.close()


def make_tracker(settings: Settings, tracking_uri: str | None) -> Tracker:
    """A server when one is named, else the store under CNAI_HOME."""
    if tracking_uri:
        return HttpTracker(tracking_uri, settings.auth_token)
    return StoreTracker(settings)


def now_ms() -> int:
    return int(time.time() * 1000)


Job = Callable[[Tracker], None]


@dataclass
class _Start:
    number: int
    params: dict[str, Any]
    worker: str
    start_ms: int


@dataclass
class _Finish:
    number: int
    outcome: Any
    state: str
    end_ms: int
    extra_tags: dict[str, str]


@dataclass
class _Setup:
    job: Job


class TrialLog:
    """The study's runs, written by one background thread, in order; ``close`` waits for them.

    The thread opens the tracker itself: a fresh store migrates its schema (a quarter of a second
    here), which the first trials need not wait for. The driver queues the study's setup (its
    parent run) with ``setup``, then ``start``/``finish`` per trial, and goes on at once.

    Writes are batched: whatever is queued when the thread wakes is written together, and a trial
    whose start and end are both waiting becomes one run written whole (create, one log-batch with
    params, metrics and tags, end) instead of two rounds. A setup job that fails is fatal: ``check``
    raises it in the driver's loop, so a study with an unreachable tracking server stops at once
    instead of running untracked. Any other write that fails is kept and raised by ``close`` (with
    how many failed), so a study never ends silently untracked. Writes still queued when the driver
    is killed are lost with it; the study's journal has the trials, and the next run of the study
    repairs their runs (``StudyDriver._reconcile_runs``).
    """

    def __init__(self, open_tracker: Callable[[], Tracker], study: str) -> None:
        self.study = study
        self.experiment_id = ""
        self.parent_run_id = ""
        self.run_ids: dict[int, str] = {}
        self.failures: list[str] = []
        self.fatal: BaseException | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._setups = 0
        self._held: list[_Start | _Finish | _Setup | Job] | None = None
        self._open = open_tracker
        self._queue: queue.SimpleQueue[_Start | _Finish | _Setup | Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name="cnai-tune-tracking", daemon=True)
        self._thread.start()

    # -- the driver's side ------------------------------------------------------------------------
    def setup(self, job: Job) -> None:
        """A write the study cannot go on without (its parent run): a failure stops the study."""
        with self._lock:
            self._setups += 1
        self._put(_Setup(job))

    def settled(self) -> bool:
        """Every setup write is done and none failed (the CLI draws its progress bar from then on,
        so that a study stopped by its tracking store stays one line)."""
        with self._lock:
            return self._setups == 0 and self.fatal is None

    def start(self, number: int, params: dict[str, Any], worker: str, start_ms: int) -> None:
        self._put(_Start(number, params, worker, start_ms))

    def finish(self, number: int, outcome: Any, state: str, end_ms: int, extra_tags: dict[str, str]) -> None:
        self._put(_Finish(number, outcome, state, end_ms, extra_tags))

    def call(self, job: Job) -> None:
        """Any other write, in order with the trials' (the parent's result, say)."""
        self._put(job)

    def hold(self) -> None:
        """Keep what is queued from now on until ``flush``: the driver holds the writes while it
        hands idle workers their next trial, so that the writer thread does not wake and take the
        interpreter lock in the middle of that (one switch interval, 5 ms, per trial otherwise)."""
        self._held = []

    def flush(self) -> None:
        held, self._held = self._held, None
        for item in held or ():
            self._queue.put(item)

    def _put(self, item: _Start | _Finish | _Setup | Job) -> None:
        if self._held is not None:
            self._held.append(item)
        else:
            self._queue.put(item)

    def check(self) -> None:
        """Raise the error of a failed setup write (the tracker cannot be opened or reached)."""
        if self.fatal is not None:
            raise self.fatal

    def close(self, raise_errors: bool = True) -> None:
        """Wait for every queued write; then raise what failed (unless ``raise_errors`` is False:
        the driver is already stopping on another error). A second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        self._queue.put(None)
        self._thread.join()
        if not raise_errors:
            return
        self.check()
        if self.failures:
            raise Unavailable(
                f"{len(self.failures)} tracking write(s) failed; the first: {self.failures[0]}. "
                "The study itself is saved: run it again to repair its runs."
            )

    # -- the writer thread -----------------------------------------------------------------------
    def _drain(self) -> None:
        tracker: Tracker | None = None
        try:
            tracker = self._open()
        except Exception as exc:  # raised in the driver by check()
            self.fatal = exc
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while True:  # everything queued meanwhile goes in the same batch
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                stop = True
                batch = batch[: batch.index(None)]
            if tracker is not None and self.fatal is None:
                self._write(tracker, batch)  # type: ignore[arg-type]
        if tracker is not None:
            tracker.close()

    def _write(self, tracker: Tracker, batch: list[_Start | _Finish | _Setup | Job]) -> None:
        finishing = {item.number: item for item in batch if isinstance(item, _Finish)}
        merged: set[int] = set()
        for item in batch:
            if self.fatal is not None:
                return
            try:
                if isinstance(item, _Setup):
                    try:
                        item.job(tracker)
                    except Exception as exc:
                        self.fatal = exc
                    with self._lock:
                        self._setups -= 1
                elif isinstance(item, _Start):
                    done = finishing.get(item.number)
                    self._write_start(tracker, item, done)
                    if done is not None:
                        merged.add(item.number)
                elif isinstance(item, _Finish):
                    if item.number not in merged:
                        self._write_finish(tracker, item)
                else:
                    item(tracker)
            except Exception as exc:  # kept for close(): tracking must not stop the study mid-way
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def _write_start(self, tracker: Tracker, start: _Start, finish: _Finish | None) -> None:
        tags = {
            PARENT_TAG: self.parent_run_id,
            TRIAL_TAG: str(start.number),
            STUDY_TAG: self.study,
            "cnai.tune.worker": start.worker,
        }
        run_id = tracker.create_run(self.experiment_id, f"trial-{start.number}", tags, start.start_ms)
        self.run_ids[start.number] = run_id
        if finish is None:
            if start.params:
                tracker.log_chunked(run_id, [], _str_params(start.params), {})
            return
        metrics, end_tags = _finish_payload(finish)
        tracker.log_chunked(run_id, metrics, _str_params(start.params), end_tags)
        tracker.end(run_id, RUN_STATUS[finish.state], finish.end_ms)

    def _write_finish(self, tracker: Tracker, finish: _Finish) -> None:
        run_id = self.run_ids.get(finish.number)
        if run_id is None:
            return  # its start failed (already counted in failures)
        metrics, tags = _finish_payload(finish)
        tracker.log_chunked(run_id, metrics, {}, tags)
        tracker.end(run_id, RUN_STATUS[finish.state], finish.end_ms)


def _finish_payload(finish: _Finish) -> tuple[list[Metric], dict[str, str]]:
    outcome = finish.outcome
    tags = {"cnai.tune.state": finish.state, "cnai.tune.duration_s": f"{outcome.duration:.6f}", **finish.extra_tags}
    if outcome.error:
        tags["cnai.tune.error"] = outcome.error[:5000]
    return trial_metrics(outcome, finish.state, finish.end_ms), tags


def trial_metrics(outcome: Any, state: str, end_ms: int) -> list[Metric]:
    """Per-step reports as ``intermediate_value`` (step = the reported step), the result as ``value``."""
    metrics: list[Metric] = [("intermediate_value", v, end_ms, s) for s, v in outcome.steps]
    if state == "complete" and outcome.value is not None:
        metrics.append(("value", float(outcome.value), end_ms, 0))
    metrics.append(("duration_s", float(outcome.duration), end_ms, 0))
    return metrics


def _str_params(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in params.items()}
