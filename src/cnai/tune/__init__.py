"""Hyperparameter search where every trial is a tracked run (``cnai tune``).

Optuna samples and prunes; cnai keeps the study in a journal under ``$CNAI_HOME/tune/`` (see
``store``), runs trials on warm workers (``executors``: local processes, or Ray actors) and writes
the study as a parent run with one child run per trial (``tracking``).

    import cnai.tune
    result = cnai.tune.run("train.py:objective", "space.yaml", trials=40, workers=2)
"""

from __future__ import annotations

from cnai.tune.driver import StudyResult, run
from cnai.tune.space import Param, Space, load_space, parse_space
from cnai.tune.trial_runner import Pruned

__all__ = ["Param", "Pruned", "Space", "StudyResult", "load_space", "parse_space", "run"]
