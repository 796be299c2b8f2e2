from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from cnai.errors import InvalidArgument
from cnai.tune.store import StudyStore, check_study_name, cut_torn_tail


def test_a_torn_last_line_is_cut_and_the_study_opens(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = optuna.create_study(study_name="s", storage=store.storage("s"))
    study.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={}))
    journal = store.journal("s")
    whole = journal.read_bytes()
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 6, "worker_id": "x", "trial_id": 0, "va')  # a write the kill cut short
    cut_torn_tail(journal)
    assert journal.read_bytes() == whole
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 6, "wor')
    again = optuna.load_study(study_name="s", storage=store.storage("s"))  # storage() cuts it too
    again.add_trial(optuna.trial.create_trial(value=2.0, params={}, distributions={}))
    assert [t.value for t in optuna.load_study(study_name="s", storage=store.storage("s")).trials] == [1.0, 2.0]


def test_a_second_driver_on_the_same_study_is_refused(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    fd = store.hold_driver("busy")
    code = (
        "from pathlib import Path; from cnai.tune.store import StudyStore; "
        f"StudyStore(Path({str(tmp_path)!r})).hold_driver('busy')"
    )
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    assert "being driven by another process" in second.stderr
    os.close(fd)
    os.close(store.hold_driver("busy"))  # free again once the holder let go


@pytest.mark.parametrize("name", ["", "../x", "a/b", "x" * 129, "-lead"])
def test_study_names_stay_inside_the_store(name: str) -> None:
    with pytest.raises(InvalidArgument, match="Study name"):
        check_study_name(name)
