"""The local executor end to end: real worker processes, the embedded store, Optuna's pruners."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnai.tune
from cnai.settings import Settings
from cnai.tune.store import StudyStore
from tests.integration.tune.conftest import child_runs, metric, objective, param, tag

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_trial_is_a_child_run_with_params_steps_and_value(settings: Settings) -> None:
    space = {"x": {"type": "float", "low": -4, "high": 4}, "kind": {"type": "categorical", "choices": ["a", "b"]}}
    result = cnai.tune.run(
        objective("quadratic"), space, trials=8, workers=2, study="quad", pruner="none", seed=1, settings=settings
    )
    assert result.trials == 8
    assert result.states == {"complete": 8}
    runs = child_runs(settings.home, "quad", result.run_id)
    assert len(runs) == 8
    assert {tag(r, "mlflow.parentRunId") for r in runs} == {result.run_id}
    assert sorted(int(tag(r, "cnai.tune.trial") or -1) for r in runs) == list(range(8))
    for run in runs:
        assert run["info"]["status"] == "FINISHED"
        x = float(param(run, "x") or "nan")
        assert metric(run, "value") == pytest.approx(-((x - 2) ** 2))
        assert (tag(run, "cnai.tune.worker") or "").startswith("local-")
        assert float(tag(run, "cnai.tune.duration_s") or -1) >= 0
    best = max(runs, key=lambda r: metric(r, "value") or -1e9)
    assert float(param(best, "x") or 0) == pytest.approx(result.best_params["x"])
    assert result.best_value == pytest.approx(metric(best, "value"))


def test_an_objective_that_raises_fails_its_trial_and_the_study_goes_on(settings: Settings) -> None:
    space = {"x": {"type": "int", "low": 0, "high": 5}}
    result = cnai.tune.run(
        objective("raises_on_three"), space, trials=6, workers=2, sampler="grid", pruner="none",
        study="raises", settings=settings,
    )  # fmt: skip
    assert result.states == {"complete": 5, "failed": 1}
    assert result.best_value == 5.0
    failed = [r for r in child_runs(settings.home, "raises", result.run_id) if r["info"]["status"] == "FAILED"]
    assert len(failed) == 1
    assert param(failed[0], "x") == "3"
    assert "ValueError: x=3 is not allowed here" in (tag(failed[0], "cnai.tune.error") or "")
    shown = StudyStore(settings.home).load("raises").get_trials()
    assert any("x=3 is not allowed" in str(t.user_attrs.get("cnai.error")) for t in shown)


def test_a_worker_killed_mid_trial_is_replaced_and_its_trial_retried_once(settings: Settings, tmp_path: Path) -> None:
    space = {"x": {"type": "int", "low": 0, "high": 5}, "marker": {"type": "categorical", "choices": [str(tmp_path)]}}
    result = cnai.tune.run(
        objective("dies_once_on_three"), space, trials=6, workers=2, sampler="grid", pruner="none",
        study="dies", settings=settings,
    )  # fmt: skip
    assert (tmp_path / "died").exists()  # the worker really was killed
    assert result.trials == 6
    assert result.states == {"complete": 6, "failed": 1}  # the killed attempt, then its retry
    runs = child_runs(settings.home, "dies", result.run_id)
    threes = sorted((r for r in runs if param(r, "x") == "3"), key=lambda r: int(tag(r, "cnai.tune.trial") or 0))
    assert [r["info"]["status"] for r in threes] == ["FAILED", "FINISHED"]
    assert "died" in (tag(threes[0], "cnai.tune.error") or "")
    assert tag(threes[1], "cnai.tune.retry_of") == tag(threes[0], "cnai.tune.trial")
    assert metric(threes[1], "value") == 3.0
    # the retry ran in a new worker process
    assert tag(threes[1], "cnai.tune.worker") != tag(threes[0], "cnai.tune.worker")


def test_a_worker_that_dies_again_on_the_retry_fails_the_trial_and_the_study_goes_on(settings: Settings) -> None:
    space = {"x": {"type": "int", "low": 0, "high": 4}}
    result = cnai.tune.run(
        objective("always_dies_on_three"), space, trials=5, workers=2, sampler="grid", pruner="none",
        study="dies-twice", settings=settings,
    )  # fmt: skip
    assert result.trials == 5
    assert result.states == {"complete": 4, "failed": 2}  # x=3 twice: once retried, then given up
    assert result.best_value == 4.0


def test_asha_prunes_at_least_half_of_a_20_step_study_and_finds_the_same_best_config(settings: Settings) -> None:
    space = {
        "lr": {"type": "categorical", "choices": [0.05, 0.1, 0.2, 0.3, 0.5]},
        "depth": {"type": "int", "low": 2, "high": 5},
    }
    common = {"trials": 20, "workers": 2, "sampler": "grid", "seed": 7, "settings": settings}
    full = cnai.tune.run(objective("learning_curve"), space, pruner="none", study="curve-full", **common)  # type: ignore[arg-type]
    asha = cnai.tune.run(objective("learning_curve"), space, pruner="asha", study="curve-asha", **common)  # type: ignore[arg-type]
    assert full.states == {"complete": 20}
    assert asha.trials == 20
    assert asha.states.get("pruned", 0) >= 10, asha.states
    assert asha.best_params == full.best_params == {"lr": 0.3, "depth": 4}
    assert asha.best_value == pytest.approx(full.best_value)
    pruned = [r for r in child_runs(settings.home, "curve-asha", asha.run_id) if r["info"]["status"] == "KILLED"]
    assert len(pruned) == asha.states["pruned"]
    assert all(metric(r, "value") is None and metric(r, "intermediate_value") is not None for r in pruned)


def test_a_model_returned_by_the_best_trial_is_registered(settings: Settings) -> None:
    from cnai.db.engine import make_engine
    from cnai.registry.store import RegistryStore

    space = {"c": {"type": "categorical", "choices": [0.1, 1.0, 10.0]}}
    result = cnai.tune.run(
        objective("with_model"), space, trials=3, workers=1, sampler="grid", pruner="none",
        study="reg", register="tuned", settings=settings,
    )  # fmt: skip
    assert result.registered_version == "1"
    version = RegistryStore(make_engine(settings.store)).get_version("tuned", "1")
    runs = child_runs(settings.home, "reg", result.run_id)
    best = next(r for r in runs if param(r, "c") == "10.0")
    assert version["run_id"] == best["info"]["run_id"]
    model_dir = Path(str(settings.artifacts).removeprefix("file://")) / version["source"].removeprefix(
        "mlflow-artifacts:/"
    )
    assert (model_dir / "MLmodel").is_file()
