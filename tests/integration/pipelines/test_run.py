"""Running pipelines on the warm local executor: cache, retries, finally, fan-out, conditions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cnai.db.engine import make_engine
from cnai.settings import Settings
from cnai.tracking.runs import RunStore

pytestmark = pytest.mark.integration

CHAIN = """
from cnai.pipelines import pipeline, step

@step
def first(x: int) -> int:
    return x + 1

@step
def second(y: int) -> int:
    return y * 2

@step
def third(z: int) -> int:
    return z - 3

@step
def side(x: int) -> int:
    return x * 100

@pipeline
def chain(x: int = 1):
    return [third(z=second(y=first(x=x))), side(x=x)]
"""


def _runs(home: Path) -> RunStore:
    return RunStore(make_engine(Settings(home=home).store))


def test_rerun_of_an_unchanged_pipeline_executes_nothing(
    write_pipeline: Any, run_pipeline: Any, plan_pipeline: Any
) -> None:
    path = write_pipeline("chain", CHAIN)
    assert plan_pipeline(path) == {"first": False, "second": False, "side": False, "third": False}
    first = run_pipeline(path)
    assert first.status == "succeeded"
    assert first.output == [1, 100]
    assert first.executed == 4
    assert plan_pipeline(path) == {"first": True, "second": True, "side": True, "third": True}
    again = run_pipeline(path)
    assert again.executed == 0
    assert [s.cached for s in again.steps] == [True] * 4
    assert again.output == [1, 100]


def test_changing_one_steps_code_reruns_it_and_its_descendants_as_plan_predicted(
    write_pipeline: Any, run_pipeline: Any, plan_pipeline: Any
) -> None:
    path = write_pipeline("chain", CHAIN)
    run_pipeline(path)
    write_pipeline("chain", CHAIN.replace("return y * 2", "return y * 3"))
    predicted = plan_pipeline(path)
    assert predicted == {"first": True, "second": False, "third": False, "side": True}
    report = run_pipeline(path)
    assert {s.name: s.cached for s in report.steps} == predicted
    assert report.executed == 2
    assert report.output == [3, 100]


def test_a_new_parameter_value_reruns_only_what_reads_it(
    write_pipeline: Any, run_pipeline: Any, plan_pipeline: Any
) -> None:
    source = CHAIN.replace("return [third(z=second(y=first(x=x))), side(x=x)]", "return [first(x=5), side(x=x)]")
    path = write_pipeline("chain", source)
    run_pipeline(path, x=1)
    assert plan_pipeline(path, x=2) == {"first": True, "side": False}
    assert [s.cached for s in run_pipeline(path, x=2).steps] == [True, False]


def test_a_sigkilled_step_is_retried_on_a_new_worker_and_the_pipeline_succeeds(
    write_pipeline: Any, run_pipeline: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "killed-pid"
    path = write_pipeline(
        "fragile",
        """
        import os, signal
        from pathlib import Path
        from cnai.pipelines import pipeline, step

        @step(retries=2, backoff=0.05)
        def fragile(marker: str) -> int:
            m = Path(marker)
            if not m.exists():
                m.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return os.getpid()

        @step
        def after(pid: int) -> int:
            return pid

        @pipeline
        def survive(marker: str):
            return after(pid=fragile(marker=marker))
        """,
    )
    report = run_pipeline(path, marker=marker)
    assert report.status == "succeeded", report.error
    fragile = report.steps[0]
    assert fragile.attempts == 2
    killed = int(marker.read_text())
    assert report.output != killed  # the second attempt ran in a replacement worker
    assert report.output != os.getpid()


def test_a_failing_step_runs_finally_steps_and_fails_the_run_with_its_error(
    write_pipeline: Any, run_pipeline: Any, tmp_path: Path, cnai_home: Path
) -> None:
    seen = tmp_path / "finally-saw"
    path = write_pipeline(
        "failing",
        """
        from pathlib import Path
        from cnai.pipelines import on_exit, pipeline, pipeline_status, step

        @step(retries=1, backoff=0.01)
        def boom(x: int) -> int:
            raise ValueError(f"bad row {x}")

        @step
        def downstream(y: int) -> int:
            return y

        @step
        def cleanup(status: str, marker: str) -> str:
            Path(marker).write_text(status)
            return status

        @pipeline
        def failing(marker: str):
            b = boom(x=7)
            on_exit(cleanup, status=pipeline_status(), marker=marker)
            return downstream(y=b)
        """,
    )
    report = run_pipeline(path, marker=seen)
    assert report.status == "failed"
    assert "ValueError: bad row 7" in report.error
    states = {s.name: (s.status, s.attempts) for s in report.steps}
    assert states == {"boom": ("failed", 2), "downstream": ("skipped", 0), "cleanup": ("succeeded", 1)}
    assert seen.read_text() == "failed"
    parent = _runs(cnai_home).get(report.run_id)
    assert parent["info"]["status"] == "FAILED"
    tags = {t["key"]: t["value"] for t in parent["data"]["tags"]}
    assert "ValueError: bad row 7" in tags["cnai.pipeline.error"]


def test_a_timeout_kills_the_step_and_fails_it(write_pipeline: Any, run_pipeline: Any) -> None:
    path = write_pipeline(
        "slow",
        """
        import time
        from cnai.pipelines import pipeline, step

        @step(timeout=0.5)
        def slow() -> int:
            time.sleep(30)
            return 1

        @pipeline
        def slow_pipeline():
            return slow()
        """,
    )
    report = run_pipeline(path)
    assert report.status == "failed"
    assert "timed out after 0.5s" in report.error


@pytest.mark.slow
def test_fan_out_of_fifty_items_with_bounded_parallelism(
    write_pipeline: Any, run_pipeline: Any, cnai_home: Path, tmp_path: Path
) -> None:
    path = write_pipeline(
        "fan",
        f"""
        import os, time
        from pathlib import Path
        from cnai.pipelines import for_each, pipeline, step

        @step
        def items(n: int) -> list:
            return list(range(n))

        @step
        def square(x: int) -> int:
            log = Path({str(tmp_path / "active")!r})
            mine = log / str(os.getpid())
            log.mkdir(exist_ok=True)
            mine.write_text("1")
            peak = len(list(log.iterdir()))
            time.sleep(0.01)
            mine.unlink()
            return x * x * 1000 + peak

        @step
        def total(values: list) -> list:
            return [sum(v // 1000 for v in values), max(v % 1000 for v in values)]

        @pipeline
        def fan(n: int = 50):
            return total(values=for_each(square, "x", items(n=n), parallelism=3))
        """,
    )
    report = run_pipeline(path)
    assert report.status == "succeeded", report.error
    assert report.output[0] == sum(i * i for i in range(50))
    assert 1 <= report.output[1] <= 3  # never more than `parallelism` items at once
    store = _runs(cnai_home)
    fan_run = next(s for s in report.steps if s.name == "square").run_id
    items, _ = store.search(["1", "2", "3"], f"tags.`mlflow.parentRunId` = '{fan_run}'", None, 1000, None, None)
    assert len(items) == 50
    assert {i["info"]["status"] for i in items} == {"FINISHED"}
    again = run_pipeline(path)
    assert again.executed == 0


def test_a_false_condition_skips_its_steps_and_their_consumers(
    write_pipeline: Any, run_pipeline: Any, plan_pipeline: Any
) -> None:
    path = write_pipeline(
        "cond",
        """
        from cnai.pipelines import pipeline, step, when

        @step
        def score(x: int) -> int:
            return x

        @step
        def deploy(s: int) -> str:
            return f"deployed {s}"

        @step
        def announce(msg: str) -> str:
            return msg

        @pipeline
        def gated(x: int = 1):
            s = score(x=x)
            with when(s, ">=", 5):
                d = deploy(s=s)
            return announce(msg=d)
        """,
    )
    low = run_pipeline(path, x=1)
    assert {s.name: s.status for s in low.steps} == {"score": "succeeded", "deploy": "skipped", "announce": "skipped"}
    assert low.status == "succeeded"
    high = run_pipeline(path, x=7)
    assert high.output == "deployed 7"
    assert plan_pipeline(path, x=1) == {"score": True, "deploy": False, "announce": False}


def test_artifacts_pass_by_reference_and_metrics_are_logged(
    write_pipeline: Any, run_pipeline: Any, cnai_home: Path
) -> None:
    path = write_pipeline("arts", ARTIFACT_PIPELINE)
    report = run_pipeline(path, rows=20)
    assert report.status == "succeeded", report.error
    assert report.output["kind"] == "Metrics"
    assert report.output["metrics"] == {"rows": 20.0, "mean": 9.5}
    assert report.output["digest"].startswith("sha256:")
    evaluate = _runs(cnai_home).get(report.steps[-1].run_id)
    assert {m["key"]: m["value"] for m in evaluate["data"]["metrics"]} == {"rows": 20.0, "mean": 9.5}


ARTIFACT_PIPELINE = """
import json
from cnai.pipelines import Dataset, Metrics, Model, pipeline, step

@step
def make_data(rows: int) -> Dataset:
    out = Dataset.new("data.json")
    out.path.write_text(json.dumps(list(range(rows))))
    return out

@step(register="pipeline-model")
def train(data: Dataset) -> Model:
    values = json.loads(data.path.read_text())
    model = Model.new("model")
    model.path.mkdir()
    (model.path / "mean.txt").write_text(str(sum(values) / len(values)))
    return model

@step
def evaluate(model: Model, data: Dataset) -> Metrics:
    mean = float((model.path / "mean.txt").read_text())
    return Metrics({"rows": len(json.loads(data.path.read_text())), "mean": mean})

@pipeline
def arts(rows: int = 10):
    data = make_data(rows=rows)
    return evaluate(model=train(data=data), data=data)
"""


def test_a_missing_file_parameter_is_one_clear_error(write_pipeline: Any, run_pipeline: Any, tmp_path: Path) -> None:
    from cnai.errors import InvalidArgument

    path = write_pipeline(
        "files",
        """
        from cnai.pipelines import File, pipeline, step

        @step
        def size(f: File) -> int:
            return len(f.path.read_bytes())

        @pipeline
        def files(f: File):
            return size(f=f)
        """,
    )
    data = tmp_path / "input.bin"
    data.write_bytes(b"x" * 123)
    assert run_pipeline(path, f=data).output == 123
    with pytest.raises(InvalidArgument, match="names a missing file"):
        run_pipeline(path, f=tmp_path / "nope.bin")


def test_run_callable_cleans_up_workers(write_pipeline: Any, run_pipeline: Any) -> None:
    path = write_pipeline("chain", CHAIN)
    run_pipeline(path)
    children = [p for p in os.listdir("/proc") if p.isdigit() and _is_worker_child(int(p))]
    assert children == []


def _is_worker_child(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{pid}/cmdline") as f:
            cmd = f.read()
    except (OSError, ValueError, IndexError):
        return False
    return ppid == os.getpid() and "cnai.pipelines.executors.worker" in cmd
