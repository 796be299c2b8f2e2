"""Compiled pipelines: KFP IR loads with kfp 2.17 and is structurally sound; the Argo Workflow
validates with hera; the container entry point runs a step with the engine's files."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from cnai.errors import InvalidArgument
from cnai.pipelines import compilers, entry, service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# Shared with bench/pipeline.py: kfp pins protobuf/requests below the shared environment's.
KFP_VENV = ROOT / "bench" / ".venvs" / "kfp"
KFP_REQUIREMENT = "kfp==2.17.0"

RICH = """
import json
from cnai.pipelines import Dataset, Model, on_exit, pipeline, pipeline_status, step, when

@step(retries=2, backoff=2, resources={"cpu": "2", "memory": "4Gi"})
def make_data(rows: int) -> Dataset:
    out = Dataset.new("d.json")
    out.path.write_text(json.dumps(list(range(rows))))
    return out

@step(timeout=600)
def train(data: Dataset, lr: float = 0.1) -> Model:
    m = Model.new("m.txt")
    m.path.write_text(str(len(json.loads(data.path.read_text())) * lr))
    return m

@step
def score(model: Model) -> float:
    return float(model.path.read_text())

@step
def deploy(model: Model, s: float) -> str:
    return f"deployed {s}"

@step(cache=False)
def notify(status: str) -> str:
    return status

@pipeline
def rich(rows: int = 10, lr: float = 0.1):
    d = make_data(rows=rows)
    m = train(data=d, lr=lr)
    s = score(model=m)
    with when(s, ">", 0.5):
        deploy(model=m, s=s)
    on_exit(notify, status=pipeline_status())
    return s
"""

FAN = """
from cnai.pipelines import for_each, pipeline, step

@step
def items(n: int) -> list:
    return list(range(n))

@step
def square(x: int) -> int:
    return x * x

@step
def total(values: list) -> int:
    return sum(values)

@pipeline
def fan(n: int = 5):
    return total(values=for_each(square, "x", items(n=n), parallelism=3))
"""


def _load(tmp_path: Path, name: str, source: str) -> service.Loaded:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return service.load(path, None, {})


@pytest.fixture(scope="session")
def kfp_python() -> Path:
    python = KFP_VENV / "bin" / "python"
    probe = f"import kfp; assert kfp.__version__ == '{KFP_REQUIREMENT.split('==')[1]}'"
    if not python.exists() or subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", str(KFP_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", KFP_REQUIREMENT], check=True, timeout=900)
    return python


@pytest.mark.slow
def test_kfp_ir_loads_with_kfp_and_passes_the_structural_check(tmp_path: Path, kfp_python: Path) -> None:
    out = tmp_path / "rich.yaml"
    out.write_text(compilers.compile_pipeline(_load(tmp_path, "rich", RICH), "kfp"))
    checked = subprocess.run(
        [str(kfp_python), str(Path(__file__).with_name("kfp_structure.py")), str(out)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    summary = json.loads(checked.stdout)
    assert summary["name"] == "rich"
    assert summary["inputs"] == ["lr", "rows"]
    tasks = summary["tasks"]
    assert tasks["train"]["deps"] == ["make-data"]
    assert tasks["make-data"]["retries"] == 2
    assert tasks["notify"]["cache"] is False
    assert tasks["make-data"]["cache"] is True
    assert tasks["deploy"]["trigger"] == "inputs.parameter_values['pipelinechannel--score-Output'] > 0.5"
    assert tasks["notify"]["trigger"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert tasks["notify"]["deps"] == ["deploy", "make-data", "score", "train"]


def test_kfp_refuses_what_it_cannot_express_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="for_each is not supported by the kfp compiler"):
        compilers.compile_pipeline(_load(tmp_path, "fan", FAN), "kfp")


@pytest.mark.parametrize(("name", "source"), [("rich", RICH), ("fan", FAN)])
def test_argo_workflow_validates_with_hera(tmp_path: Path, name: str, source: str) -> None:
    from hera.workflows import Workflow

    text = compilers.compile_pipeline(_load(tmp_path, name, source), "argo")
    workflow = Workflow.from_yaml(text)  # validates against hera's model of the Argo schema
    doc = yaml.safe_load(text)
    assert workflow.generate_name == f"{name}-"
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    dags = [t for t in templates.values() if "dag" in t]
    for dag in dags:
        names = {task["name"] for task in dag["dag"]["tasks"]}
        for task in dag["dag"]["tasks"]:
            template = templates[task["template"]]
            assert set(task.get("dependencies", [])) <= names
            wanted = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
            given = {p["name"] for p in task.get("arguments", {}).get("parameters", [])}
            assert wanted == given, task["name"]
    if name == "rich":
        assert doc["spec"]["onExit"] == "finally"
        assert templates["make-data"]["retryStrategy"]["limit"] == "2"
        assert templates["train"]["activeDeadlineSeconds"] == 600
        assert templates["make-data"]["container"]["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
        assert "memoize" in templates["score"]
        assert "memoize" not in templates["notify"]
    else:
        square = next(t for t in dags[0]["dag"]["tasks"] if t["name"] == "square")
        assert square["withParam"] == "{{tasks.items.outputs.parameters.Output}}"
        assert templates["square"]["parallelism"] == 3


def test_the_entry_point_runs_steps_with_engine_files(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "rich", RICH)
    src = base64.b64encode(loaded.source.encode()).decode()
    common = ["--source-b64", src, "--module", loaded.module]
    data, model, score = tmp_path / "out" / "data", tmp_path / "out" / "model", tmp_path / "out" / "score.json"
    assert (
        entry.main([*common, "--qualname", "make_data", "--input", "rows=value:4", "--output", f"artifact:{data}"]) == 0
    )
    args: list[Any] = ["--input", f"data=artifact:Dataset:{data}", "--input", "lr=value:0.5"]
    assert entry.main([*common, "--qualname", "train", *args, "--output", f"artifact:{model}"]) == 0
    assert (
        entry.main(
            [*common, "--qualname", "score", "--input", f"model=artifact:Model:{model}", "--output", f"value:{score}"]
        )
        == 0
    )
    assert json.loads(score.read_text()) == 2.0
