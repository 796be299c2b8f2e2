"""The tuning benchmark's workload: 40 fixed GradientBoosting configurations, 3-fold CV on
scikit-learn's bundled breast_cancer. Every contender calls ``score``; each call appends its own
time to the file named by CNAI_BENCH_TRIAL_LOG, so Σ trial time is measured the same way for all.

Each line is ``trial_seconds import_seconds``: the second is what the call spent importing
scikit-learn before its timed work (about a second on a process's first call, nothing after). It
is not trial time, so the issue's formula charges it as overhead; the table shows it apart, since
every contender pays it once per fresh worker process (Ray Tune's default, once per trial)."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

GRID: dict[str, list[Any]] = {
    "n_estimators": [50, 100],
    "learning_rate": [0.05, 0.1, 0.2, 0.3],
    "max_depth": [1, 2, 3, 4, 5],
}
CONFIGS = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
assert len(CONFIGS) == 40

_data: Any = None


def _record(seconds: float, imports: float = 0.0) -> None:
    path = os.environ.get("CNAI_BENCH_TRIAL_LOG")
    if path:  # one short O_APPEND write per trial: lines from several processes never interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{seconds:.6f} {imports:.6f}\n".encode())
        finally:
            os.close(fd)


def score(params: dict[str, Any]) -> float:
    global _data
    entered = time.perf_counter()
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    started = time.perf_counter()
    if _data is None:
        _data = load_breast_cancer(return_X_y=True)
    model = GradientBoostingClassifier(
        n_estimators=int(params["n_estimators"]),
        learning_rate=float(params["learning_rate"]),
        max_depth=int(params["max_depth"]),
        random_state=0,
    )
    value = float(cross_val_score(model, *_data, cv=3).mean())
    _record(time.perf_counter() - started, started - entered)
    return value


def cnai_objective(params: dict[str, Any], report: Any) -> float:
    return score(params)


def sleep_10ms(params: dict[str, Any], report: Any) -> float:
    started = time.perf_counter()
    time.sleep(0.01)
    _record(time.perf_counter() - started)
    return float(params["x"])
