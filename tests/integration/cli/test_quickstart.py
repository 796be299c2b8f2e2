"""`cnai quickstart`: the whole loop works end to end on a fresh home, and can be run again."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quickstart_runs_the_whole_loop_twice(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "cnai.cli.main", "quickstart", "--home", str(tmp_path)]
    for champion, retrained in (("1", "2"), ("3", "4")):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
        out = " ".join(done.stdout.split())  # rich wraps table cells
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"quickstart-wine v{champion}, alias champion" in out
        assert "monitor windows, no drift" in out
        assert "flagged drift" in out
        assert f"v{retrained} from fresh labelled data" in out
        share = re.search(rf"v{retrained} got (\d+)% of live traffic", out)
        assert share is not None
        assert 10 <= int(share.group(1)) <= 30  # 20% configured, 600 requests
        assert f"v{retrained} promoted: champion → v{retrained}" in out
        assert re.search(r"failed requests\s*│\s*0\s*│", done.stdout)
        assert (tmp_path / "quickstart" / "drift-report.html").stat().st_size > 10_000
    engine = create_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM runs")).scalar_one()
        alias = conn.execute(text("SELECT version FROM registered_model_aliases WHERE alias = 'champion'")).scalar_one()
        tagged = conn.execute(text("SELECT count(*) FROM model_version_tags WHERE key = 'trigger'")).scalar_one()
        # The second run's history (the first one's is reset): one drift incident, one retraining.
        retrains = conn.execute(text("SELECT count(*) FROM monitor_actions WHERE kind = 'command'")).scalar_one()
    assert runs == 10  # per run: 4 sweep runs + 1 retrain
    assert alias == 4
    assert tagged == 2
    assert retrains == 1
    leftovers = subprocess.run(["pgrep", "-f", f"CNAI_HOME={tmp_path}|{tmp_path}"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", "replicas or the control plane outlived the quickstart"
