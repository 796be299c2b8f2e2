"""What runs one trial inside a worker, whatever the executor (a local process or a Ray actor).

The executor gives ``run_trial`` a ``report`` sink; the trial's outcome comes back as a plain
tuple so it crosses a pipe or Ray's object store without pickling the user's classes, except the
model when the study registers one (saved by the worker to a file the driver reads).
"""

from __future__ import annotations

import pickle
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnai.tune.objective import Objective


class Pruned(Exception):
    """Raised by ``report`` when the pruner stops the trial; let it propagate out of the objective."""


@dataclass
class Outcome:
    state: str  # "complete" | "pruned" | "failed"
    value: float | None = None
    error: str = ""
    duration: float = 0.0
    steps: list[tuple[int, float]] = field(default_factory=list)
    model_path: str = ""


def run_trial(
    objective: Objective,
    params: dict[str, Any],
    report_sink: Callable[[int, float], bool],
    model_path: str = "",
) -> Outcome:
    """Call the objective; ``report_sink(step, value)`` answers True when the trial is to be pruned."""
    steps: list[tuple[int, float]] = []

    def report(step: int, value: float) -> None:
        step, value = int(step), float(value)
        steps.append((step, value))
        if report_sink(step, value):
            raise Pruned(f"pruned at step {step}")

    start = time.perf_counter()
    try:
        result = objective(dict(params), report)
    except Pruned:
        return Outcome("pruned", steps[-1][1] if steps else None, duration=time.perf_counter() - start, steps=steps)
    except Exception as exc:
        return Outcome("failed", error=_describe(exc), duration=time.perf_counter() - start, steps=steps)
    duration = time.perf_counter() - start
    try:
        value, model = _unpack(result)
    except (TypeError, ValueError) as exc:
        return Outcome("failed", error=str(exc), duration=duration, steps=steps)
    saved = ""
    if model is not None and model_path:
        Path(model_path).parent.mkdir(parents=True, exist_ok=True)
        Path(model_path).write_bytes(pickle.dumps(model))
        saved = model_path
    return Outcome("complete", value, duration=duration, steps=steps, model_path=saved)


def _unpack(result: Any) -> tuple[float, Any]:
    """A float, or ``(float, model)``: the model is what ``--register`` logs for the best trial."""
    model = None
    if isinstance(result, tuple) and len(result) == 2:
        result, model = result
    if isinstance(result, bool) or not isinstance(result, int | float):
        try:
            result = float(result)  # numpy scalars
        except (TypeError, ValueError):
            raise TypeError(
                f"The objective returned {type(result).__name__}; return a float, or (float, model)."
            ) from None
    value = float(result)
    if value != value:
        raise ValueError("The objective returned NaN.")
    return value, model


def _describe(exc: BaseException) -> str:
    """The error and where it was raised in the user's code (last frame), on one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{where}"
