"""`cnai quickstart` works end to end and can be run again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quickstart_runs_twice(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "cnai.cli.main", "quickstart", "--home", str(tmp_path)]
    for expected_version in (1, 2):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Registered quickstart-wine version {expected_version}" in done.stdout
        assert "predicts [" in done.stdout
    engine = create_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM runs")).scalar_one()
        alias = conn.execute(text("SELECT version FROM registered_model_aliases WHERE alias = 'champion'")).scalar_one()
    assert runs == 8
    assert alias == 2
