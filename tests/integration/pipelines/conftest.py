"""Helpers: pipeline files written by the test, run in-process or through the `cnai` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cnai.pipelines import service
from cnai.pipelines.runner import RunReport
from cnai.settings import Settings

SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture
def write_pipeline(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, source: str) -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def run_pipeline(cnai_home: Path) -> Callable[..., RunReport]:
    def run(path: Path, *, pipeline: str | None = None, executor: str = "local", **params: Any) -> RunReport:
        loaded = service.load(path, pipeline, {k: str(v) for k, v in params.items()})
        return service.run(loaded, Settings(home=cnai_home), executor=executor)

    return run


@pytest.fixture
def plan_pipeline(cnai_home: Path) -> Callable[..., dict[str, bool]]:
    def plan(path: Path, **params: Any) -> dict[str, bool]:
        loaded = service.load(path, None, {k: str(v) for k, v in params.items()})
        return {s.name: s.cached for s in service.plan(loaded, Settings(home=cnai_home))}

    return plan


@pytest.fixture
def cli(cnai_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CNAI_HOME": str(cnai_home), "PYTHONPATH": SRC, "COLUMNS": "200"}
        env.pop("CNAI_TRACKING_URI", None)
        env.pop("MLFLOW_TRACKING_URI", None)
        return subprocess.run(
            [sys.executable, "-m", "cnai.cli.main", "pipeline", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )

    return invoke
