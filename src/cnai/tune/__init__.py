"""Hyperparameter search where every trial is a tracked run (``cnai tune``).

Optuna samples and prunes; cnai keeps the study in a journal under ``$CNAI_HOME/tune/`` (see
``store``), runs trials on warm workers (``executors``: local processes, or Ray actors) and writes
the study as a parent run with one child run per trial (``tracking``).

    import cnai.tune
    result = cnai.tune.run("train.py:objective", "space.yaml", trials=40, workers=2)

The names below load on first use: a worker process imports ``cnai.tune.executors._local_worker``,
which must not pay for the driver's imports (settings, HTTP client, Optuna) before its first trial.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnai.tune.driver import StudyResult, run
    from cnai.tune.space import Param, Space, load_space, parse_space
    from cnai.tune.trial_runner import Pruned

__all__ = ["Param", "Pruned", "Space", "StudyResult", "load_space", "parse_space", "run"]

_WHERE = {
    "run": "cnai.tune.driver",
    "StudyResult": "cnai.tune.driver",
    "Param": "cnai.tune.space",
    "Space": "cnai.tune.space",
    "load_space": "cnai.tune.space",
    "parse_space": "cnai.tune.space",
    "Pruned": "cnai.tune.trial_runner",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'cnai.tune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
