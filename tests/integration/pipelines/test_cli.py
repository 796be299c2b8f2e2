"""`cnai pipeline run|plan --json`: the shapes a check outside the suite relies on; bad input
answers one line and no traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "pipelines" / "demo.py"


def test_run_and_plan_json_contracts_on_the_example(cli: Any) -> None:
    planned = cli("plan", str(EXAMPLE), "--param", "x=4", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [(s["name"], s["cached"]) for s in plan["steps"]] == [("square", False), ("add", False)]

    ran = cli("run", str(EXAMPLE), "--pipeline", "demo", "--param", "x=4", "--json")
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert {"run_id", "status", "output", "steps"} <= set(out)
    assert out["status"] == "succeeded"
    assert out["output"] == 20
    assert [(s["name"], s["cached"], s["status"]) for s in out["steps"]] == [
        ("square", False, "succeeded"),
        ("add", False, "succeeded"),
    ]
    assert len(out["run_id"]) == 32

    replanned = json.loads(cli("plan", str(EXAMPLE), "--param", "x=4", "--json").stdout)
    assert [s["cached"] for s in replanned["steps"]] == [True, True]
    rerun = json.loads(cli("run", str(EXAMPLE), "--param", "x=4", "--json").stdout)
    assert [(s["cached"], s["status"]) for s in rerun["steps"]] == [(True, "succeeded"), (True, "succeeded")]
    assert rerun["output"] == 20
    default = json.loads(cli("run", str(EXAMPLE), "--json").stdout)
    assert default["output"] == 12


def test_a_failed_run_exits_non_zero_with_the_failed_status(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        "from cnai.pipelines import pipeline, step\n\n@step\ndef boom() -> int:\n    raise RuntimeError('no data')\n\n"
        "@pipeline\ndef bad():\n    return boom()\n"
    )
    ran = cli("run", str(path), "--json")
    assert ran.returncode == 1
    out = json.loads(ran.stdout)
    assert out["status"] == "failed"
    assert out["steps"][0]["status"] == "failed"
    assert "RuntimeError: no data" in out["error"]


CYCLE = """
from cnai.pipelines import pipeline, step

@step
def a(x: int) -> int:
    return x

@step
def b(y: int) -> int:
    return y

@pipeline
def cyc(x: int = 1):
    first = a(x=x)
    second = b(y=first)
    first.after(second)
    return second
"""

UNBOUND = """
from cnai.pipelines import pipeline, step

@step
def add(a: int, b: int) -> int:
    return a + b

@pipeline
def unbound(x: int = 1):
    return add(a=x)
"""


@pytest.mark.parametrize(
    ("source", "args", "message"),
    [
        (CYCLE, [], "has a cycle: "),
        (UNBOUND, [], "Step 'add' input 'b' is not bound"),
        (None, [], "does not exist"),
        (CYCLE.replace("first.after(second)", ""), ["--param", "nope=1"], "has no parameter 'nope'"),
        ("this is not python(", [], "line 1"),
    ],
    ids=["cycle", "unbound-input", "missing-file", "unknown-param", "syntax-error"],
)
@pytest.mark.parametrize("command", ["run", "plan"])
def test_bad_input_is_one_line_without_a_traceback(
    cli: Any, tmp_path: Path, source: str | None, args: list[str], message: str, command: str
) -> None:
    path = tmp_path / "p.py"
    if source is not None:
        path.write_text(source)
    result = cli(command, str(path), *args)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
