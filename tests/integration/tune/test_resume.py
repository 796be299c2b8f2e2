"""A study survives its driver being SIGKILLed: the second `cnai tune` finishes it, losing and
repeating no completed trial, in the journal and in the tracking store alike."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cnai.tune.store import StudyStore
from tests.integration.tune.conftest import child_runs, param, tag
from tests.integration.tune.conftest import objective as objective_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SRC = str(Path(__file__).resolve().parents[3] / "src")


def _tune(home: Path, space: Path) -> list[str]:
    return [
        sys.executable, "-m", "cnai.cli.main", "tune", objective_path("slow_logged"), "--space", str(space),
        "--trials", "12", "--workers", "2", "--sampler", "grid", "--pruner", "none", "--study", "resumed",
        "--home", str(home), "--json",
    ]  # fmt: skip


def _completed(home: Path) -> dict[int, tuple[int, float]]:
    from optuna.trial import TrialState

    study = StudyStore(home).load("resumed")
    return {t.number: (t.params["x"], t.value) for t in study.get_trials(states=(TrialState.COMPLETE,))}


def test_a_sigkilled_driver_is_resumed_without_losing_or_repeating_a_completed_trial(tmp_path: Path) -> None:
    home, logs = tmp_path / "home", tmp_path / "logs"
    logs.mkdir()
    space = tmp_path / "space.yaml"
    space.write_text(
        yaml.safe_dump(
            {"x": {"type": "int", "low": 0, "high": 11}, "log": {"type": "categorical", "choices": [str(logs)]}}
        )
    )
    env = {**os.environ, "PYTHONPATH": SRC, "CNAI_HOME": str(home)}
    driver = subprocess.Popen(_tune(home, space), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    before: dict[int, tuple[int, float]] = {}
    while time.monotonic() < deadline and len(before) < 4:
        time.sleep(0.2)
        assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
        if StudyStore(home).exists("resumed"):
            before = _completed(home)
    assert len(before) >= 4
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = _completed(home)  # what the journal holds at the moment of the kill
    assert 4 <= len(before) < 12
    time.sleep(1.0)  # the orphaned workers finish their trial, find the driver gone and exit

    again = subprocess.run(_tune(home, space), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = _completed(home)
    # nothing completed before the kill was lost or changed
    assert all(after.get(number) == x_value for number, x_value in before.items())
    # every config completed exactly once: the grid is covered, no config completed twice
    assert sorted(x for x, _ in after.values()) == list(range(12))
    # a config completed before the kill never ran again; only those running at the kill may have
    runs_per_x = collections.Counter(int(line) for line in (logs / "executions").read_text().split())
    assert all(runs_per_x[x] == 1 for x, _ in before.values())
    assert sum(n - 1 for n in runs_per_x.values()) <= 2  # at most the two trials running at the kill

    # the trials the kill interrupted were marked failed and their params ran again
    from optuna.trial import TrialState

    interrupted = StudyStore(home).load("resumed").get_trials(states=(TrialState.FAIL,))
    assert interrupted
    assert all(t.user_attrs["cnai.error"].startswith("the driver stopped") for t in interrupted)

    # the tracking store agrees: one FINISHED child run per completed trial, none duplicated
    study = StudyStore(home).load("resumed")
    runs = child_runs(home, "resumed", study.user_attrs["cnai.parent_run_id"])
    finished = [r for r in runs if r["info"]["status"] == "FINISHED"]
    assert sorted(int(tag(r, "cnai.tune.trial") or -1) for r in finished) == sorted(after)
    assert sorted(int(param(r, "x") or -1) for r in finished) == list(range(12))
    trial_tags = [tag(r, "cnai.tune.trial") for r in runs]
    assert len(trial_tags) == len(set(trial_tags))  # one run per trial number
    assert not [r for r in runs if r["info"]["status"] == "RUNNING"]
