"""The Ray executor against a real local Ray (2 CPUs): reused actors, pruning through the
mailbox, a killed actor replaced and its trial retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import cnai.tune
from cnai.settings import Settings
from tests.integration.tune.conftest import child_runs, metric, objective, param, tag

ray = pytest.importorskip("ray")  # the `ray` extra, installed by `make test` through .[dev]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_trials_run_on_reused_ray_actors_and_are_tracked(local_ray: None, settings: Settings) -> None:
    space = {"x": {"type": "int", "low": 0, "high": 5}}
    result = cnai.tune.run(
        objective("quadratic"), space, trials=6, workers=2, executor="ray", sampler="grid", pruner="none",
        study="on-ray", settings=settings,
    )  # fmt: skip
    assert result.states == {"complete": 6}
    assert result.best_params == {"x": 2}
    runs = child_runs(settings.home, "on-ray", result.run_id)
    assert len(runs) == 6
    workers = {tag(r, "cnai.tune.worker") for r in runs}
    assert len(workers) == 2  # two actors, each reused for several trials
    assert all((w or "").startswith("ray-") for w in workers)
    assert all(metric(r, "value") == -((int(param(r, "x") or 0) - 2) ** 2) for r in runs)


def test_pruning_and_a_killed_actor_on_ray(local_ray: None, settings: Settings, tmp_path: Path) -> None:
    space = {
        "lr": {"type": "categorical", "choices": [0.05, 0.1, 0.2, 0.3, 0.5]},
        "depth": {"type": "int", "low": 2, "high": 5},
    }
    pruned = cnai.tune.run(
        objective("learning_curve"), space, trials=20, workers=2, executor="ray", sampler="grid", pruner="asha",
        study="ray-asha", settings=settings,
    )  # fmt: skip
    assert pruned.states.get("pruned", 0) >= 10
    assert pruned.best_params == {"lr": 0.3, "depth": 4}

    space2 = {"x": {"type": "int", "low": 0, "high": 4}, "marker": {"type": "categorical", "choices": [str(tmp_path)]}}
    died = cnai.tune.run(
        objective("dies_once_on_three"), space2, trials=5, workers=2, executor="ray", sampler="grid",
        pruner="none", study="ray-dies", settings=settings,
    )  # fmt: skip
    assert (tmp_path / "died").exists()
    assert died.states == {"complete": 5, "failed": 1}
    assert died.best_value == 4.0
