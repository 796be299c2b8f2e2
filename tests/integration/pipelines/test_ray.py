"""The Ray executor on a real local Ray: same results, cache and retries as the local executor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed")

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = """
import os, signal
from pathlib import Path
from cnai.pipelines import for_each, pipeline, step

@step(retries=1, backoff=0.05)
def flaky(marker: str) -> int:
    m = Path(marker)
    if not m.exists():
        m.write_text("1")
        os.kill(os.getpid(), signal.SIGKILL)
    return 3

@step
def square(x: int) -> int:
    return x * x

@step
def total(values: list) -> int:
    return sum(values)

@pipeline
def on_ray(marker: str):
    n = flaky(marker=marker)
    return total(values=for_each(square, "x", [1, 2, 3, 4], parallelism=2)), n
"""


def test_steps_run_as_ray_tasks_with_retries_and_cache(write_pipeline: Any, run_pipeline: Any, tmp_path: Path) -> None:
    path = write_pipeline("on_ray", PIPELINE.replace("), n\n", "), n]\n").replace("return total", "return [total"))
    report = run_pipeline(path, executor="ray", marker=tmp_path / "m")
    assert report.status == "succeeded", report.error
    assert report.output == [30, 3]
    assert report.steps[0].attempts == 2  # the SIGKILLed Ray worker's attempt was retried
    again = run_pipeline(path, executor="ray", marker=tmp_path / "m")
    assert again.executed == 0
