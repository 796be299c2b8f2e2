from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cnai.tune.objective import ObjectiveImportError, load_objective
from cnai.tune.trial_runner import Pruned, run_trial


def test_load_from_a_file_and_from_a_module(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("OFFSET = 10\n")
    (tmp_path / "train.py").write_text(
        "import helper\ndef objective(params, report):\n    return params['x'] + helper.OFFSET\n"
    )
    fn = load_objective(f"{tmp_path / 'train.py'}:objective")
    assert fn({"x": 1}, lambda s, v: None) == 11
    assert load_objective("os.path:join")("a", "b") == "a/b"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "must look like module:function"),
        ("mod:", "must look like module:function"),
        ("definitely_not_a_module_123:f", "No module named 'definitely_not_a_module_123'"),
        ("os.path:not_there", "has no function 'not_there'"),
        ("/no/such/file.py:f", "No objective file"),
    ],
)
def test_unimportable_objectives_say_why(spec: str, message: str) -> None:
    with pytest.raises(ObjectiveImportError, match=re.escape(message)) as err:
        load_objective(spec)
    assert "\n" not in err.value.message


def test_a_module_that_raises_at_import(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text("raise RuntimeError('no GPU here\\nsecond line')\n")
    with pytest.raises(ObjectiveImportError, match=r"RuntimeError: no GPU here$"):
        load_objective(f"{tmp_path / 'boom.py'}:f")


def _never(step: int, value: float) -> bool:
    return False


def test_outcomes() -> None:
    def good(params: dict[str, Any], report: Any) -> float:
        report(0, 0.5)
        report(1, 0.7)
        return 0.9

    done = run_trial(good, {}, _never)
    assert (done.state, done.value, done.steps) == ("complete", 0.9, [(0, 0.5), (1, 0.7)])

    def bad(params: dict[str, Any], report: Any) -> float:
        raise KeyError("lr")

    failed = run_trial(bad, {}, _never)
    assert failed.state == "failed"
    assert failed.error.startswith("KeyError: 'lr' (test_objective_and_trial.py:")

    def long(params: dict[str, Any], report: Any) -> float:
        for step in range(10):
            report(step, step / 10)
        return 1.0

    pruned = run_trial(long, {}, lambda step, value: step == 3)
    assert (pruned.state, pruned.value, len(pruned.steps)) == ("pruned", 0.3, 4)

    nan = run_trial(lambda p, r: float("nan"), {}, _never)
    assert nan.state == "failed"
    assert "NaN" in nan.error
    text = run_trial(lambda p, r: "high", {}, _never)
    assert text.state == "failed"
    assert "return a float" in text.error


def test_a_returned_model_is_saved_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "models" / "0.pkl"
    kept = run_trial(lambda p, r: (0.5, {"weights": [1, 2]}), {}, _never, str(target))
    assert kept.value == 0.5
    assert kept.model_path == str(target)
    assert target.is_file()
    dropped = run_trial(lambda p, r: (0.5, {"weights": [1, 2]}), {}, _never, "")
    assert dropped.model_path == ""


def test_pruned_is_an_exception_objectives_may_let_through() -> None:
    assert issubclass(Pruned, Exception)
