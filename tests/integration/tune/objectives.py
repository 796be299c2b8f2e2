"""Objectives the tune tests run (loaded as file.py:function, as a user would name them)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any


def quadratic(params: dict[str, Any], report: Any) -> float:
    """Best at x = 2; reports three steps so the trial has a metric history."""
    x = float(params["x"])
    for step in range(3):
        report(step, -((x - 2) ** 2) - 1 / (step + 1))
    return -((x - 2) ** 2)


def raises_on_three(params: dict[str, Any], report: Any) -> float:
    if params["x"] == 3:
        raise ValueError("x=3 is not allowed here")
    return float(params["x"])


def dies_once_on_three(params: dict[str, Any], report: Any) -> float:
    """SIGKILLs its own worker the first time it sees x = 3 (a marker file remembers it did)."""
    marker = Path(params["marker"]) / "died"
    if params["x"] == 3 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return float(params["x"])


def always_dies_on_three(params: dict[str, Any], report: Any) -> float:
    if params["x"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(params["x"])


def slow_logged(params: dict[str, Any], report: Any) -> float:
    """Appends each execution to a log, so a test can count how often each config ran."""
    time.sleep(float(params.get("sleep", 0.4)))
    with open(Path(params["log"]) / "executions", "a") as f:
        f.write(f"{params['x']}\n")
    return float(params["x"])


def learning_curve(params: dict[str, Any], report: Any) -> float:
    """20 steps of a curve that rises toward a quality set by the config: the best config leads at
    every step, so pruning the rest early loses nothing (what ASHA relies on)."""
    quality = 1.0 - abs(float(params["lr"]) - 0.3) - 0.1 * abs(int(params["depth"]) - 4)
    value = 0.0
    for step in range(1, 21):
        value = quality * (1 - 0.8**step)
        report(step, value)
        time.sleep(0.002)
    return value


def with_model(params: dict[str, Any], report: Any) -> tuple[float, Any]:
    from sklearn.linear_model import LogisticRegression

    x = [[0.0], [1.0], [2.0], [3.0]]
    y = [0, 0, 1, 1]
    model = LogisticRegression(C=float(params["c"])).fit(x, y)
    return float(params["c"]), model


def not_a_number(params: dict[str, Any], report: Any) -> Any:
    return "high"


def cli_modules_loaded(params: dict[str, Any], report: Any) -> float:
    """How many of cnai's CLI modules the worker has imported (none: a worker does not re-run the
    driver's __main__, which under `cnai tune` is the CLI)."""
    import sys

    return float(sum(1 for name in sys.modules if name.startswith("cnai.cli")))
