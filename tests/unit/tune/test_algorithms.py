"""The samplers and pruners by their CLI names are Optuna's own, and each one runs."""

from __future__ import annotations

import optuna
import pytest

from cnai.errors import InvalidArgument
from cnai.tune.algorithms import PRUNERS, SAMPLERS, make_pruner, make_sampler
from cnai.tune.space import parse_space

SPACE = {"x": {"type": "float", "low": -5.0, "high": 5.0}, "y": {"type": "int", "low": -3, "high": 3, "step": 1}}


@pytest.mark.parametrize("name", [s for s in SAMPLERS if s != "grid"])
def test_each_sampler_searches_the_space(name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = parse_space(SPACE)
    study = optuna.create_study(sampler=make_sampler(name, space, seed=1))

    def objective(trial: optuna.Trial) -> float:
        params = space.sample(trial)
        return float((params["x"] - 2) ** 2 + abs(params["y"]))

    study.optimize(objective, n_trials=40)
    assert len(study.trials) == 40
    assert study.best_value < 1.0  # far better than the space's mean (about 11)


def test_cmaes_is_optunas_own_sampler() -> None:
    sampler = make_sampler("cmaes", parse_space(SPACE), seed=0)
    assert isinstance(sampler, optuna.samplers.CmaEsSampler)


@pytest.mark.parametrize("name", PRUNERS)
def test_each_pruner_is_built(name: str) -> None:
    pruner = make_pruner(name)
    assert isinstance(pruner, optuna.pruners.BasePruner)


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(InvalidArgument, match="use one of: tpe, random, grid, cmaes"):
        make_sampler("annealing", parse_space(SPACE), seed=None)
