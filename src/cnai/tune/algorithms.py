"""Optuna's samplers and pruners by the names the CLI takes (cnai re-implements none of them)."""

from __future__ import annotations

from typing import Any

from cnai.errors import InvalidArgument
from cnai.tune.space import Space

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "asha", "hyperband", "none")


def check_names(sampler: str, pruner: str) -> None:
    """Unknown names fail before any worker starts (``make_*`` would only tell after Optuna's import)."""
    if sampler not in SAMPLERS:
        raise InvalidArgument(f"Unknown sampler {sampler!r}; use one of: {', '.join(SAMPLERS)}.")
    if pruner not in PRUNERS:
        raise InvalidArgument(f"Unknown pruner {pruner!r}; use one of: {', '.join(PRUNERS)}.")


def make_sampler(name: str, space: Space, seed: int | None) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if name == "cmaes":
        import importlib.util

        if importlib.util.find_spec("cmaes") is None:
            raise InvalidArgument("The cmaes sampler needs the `cmaes` package: pip install cmaes.")
        return optuna.samplers.CmaEsSampler(seed=seed)
    raise InvalidArgument(f"Unknown sampler {name!r}; use one of: {', '.join(SAMPLERS)}.")


def make_pruner(name: str) -> Any:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "asha":
        # Asynchronous successive halving, rungs at steps 1, 4, 16, ... (the best quarter goes on).
        # min_resource=1, not Optuna's "auto": "auto" learns it from the first completed trial, and
        # trials running until then enter their first rung with the value of whatever step they had
        # reached by that moment, so which trials survive would depend on timing (seen on Ray).
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise InvalidArgument(f"Unknown pruner {name!r}; use one of: {', '.join(PRUNERS)}.")


def grid_size(space: Space) -> int:
    size = 1
    for values in space.grid().values():
        size *= len(values)
    return size
