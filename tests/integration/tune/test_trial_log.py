"""The tracking writer (``TrialLog``) on the real embedded store: batching, setup failures, close."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from cnai.errors import Unavailable
from cnai.settings import Settings
from cnai.tune.tracking import Metric, StoreTracker, Tracker, TrialLog
from cnai.tune.trial_runner import Outcome
from tests.integration.tune.conftest import child_runs, metric, param, tag

pytestmark = pytest.mark.integration


class CountingTracker(StoreTracker):
    """The embedded store, counting the writes it is asked for."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.calls: list[str] = []

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str], start_ms: int) -> str:
        self.calls.append("create")
        return super().create_run(experiment_id, name, tags, start_ms)

    def log(self, run_id: str, metrics: Sequence[Metric], params: dict[str, str], tags: dict[str, str]) -> None:
        self.calls.append("log")
        super().log(run_id, metrics, params, tags)

    def end(self, run_id: str, status: str, end_ms: int | None) -> None:
        self.calls.append("end")
        super().end(run_id, status, end_ms)


def _parent(log: TrialLog, tracker: Tracker) -> None:
    log.experiment_id = tracker.experiment("writer")
    log.parent_run_id = tracker.create_run(log.experiment_id, "writer", {}, 1)


def test_a_trial_whose_start_and_end_wait_together_is_written_in_one_round(settings: Settings) -> None:
    gate = threading.Event()
    trackers: list[CountingTracker] = []

    def open_tracker() -> Tracker:
        gate.wait(30)  # the writer starts only once both trials are queued: one batch
        trackers.append(CountingTracker(settings))
        return trackers[0]

    log = TrialLog(open_tracker, "writer")
    log.setup(lambda tracker: _parent(log, tracker))
    done = Outcome("complete", 0.75, duration=0.5, steps=[(0, 0.5), (1, 0.7)])
    log.start(0, {"lr": 0.1, "depth": 3}, "local-0 pid 1", 1000)
    log.finish(0, done, "complete", 2000, {})
    log.start(1, {"lr": 0.2, "depth": 4}, "local-1 pid 2", 1000)
    gate.set()
    log.close()

    # the parent (create), trial 0 whole (create, log, end), trial 1 started (create, log)
    assert trackers[0].calls == ["create", "create", "log", "end", "create", "log"]
    runs = {tag(r, "cnai.tune.trial"): r for r in child_runs(settings.home, "writer", log.parent_run_id)}
    whole = runs["0"]
    assert whole["info"]["status"] == "FINISHED"
    assert param(whole, "lr") == "0.1"
    assert param(whole, "depth") == "3"
    assert metric(whole, "value") == 0.75
    assert tag(whole, "cnai.tune.state") == "complete"
    assert tag(whole, "cnai.tune.worker") == "local-0 pid 1"
    assert runs["1"]["info"]["status"] == "RUNNING"
    assert param(runs["1"], "lr") == "0.2"


def test_held_writes_reach_the_store_when_the_log_closes(settings: Settings) -> None:
    log = TrialLog(lambda: StoreTracker(settings), "held")
    log.setup(lambda tracker: _parent(log, tracker))
    log.hold()
    log.start(0, {"x": 1}, "w", 1000)
    log.finish(0, Outcome("failed", error="ValueError: boom"), "failed", 2000, {"cnai.tune.retried": "false"})
    log.close()  # never flushed by the driver (it stopped on an error): close writes them anyway
    (run,) = child_runs(settings.home, "writer", log.parent_run_id)
    assert run["info"]["status"] == "FAILED"
    assert tag(run, "cnai.tune.error") == "ValueError: boom"
    assert metric(run, "value") is None


def test_a_failed_setup_write_is_raised_and_nothing_else_is_written(settings: Settings) -> None:
    written: list[str] = []

    def refuse(tracker: Tracker) -> None:
        raise Unavailable("No tracking server answers at http://nowhere")

    log = TrialLog(lambda: StoreTracker(settings), "refused")
    log.setup(refuse)
    log.call(lambda tracker: written.append("after"))
    with pytest.raises(Unavailable, match="No tracking server answers"):
        log.close()
    assert not log.settled()
    assert written == []
    with pytest.raises(Unavailable):
        log.check()
    log.close()  # a second close does nothing
