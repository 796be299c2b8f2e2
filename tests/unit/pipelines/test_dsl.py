"""Tracing: a @pipeline becomes a DAG; bad pipelines fail with one clear message."""

from __future__ import annotations

import pytest

from cnai.pipelines import Dataset, PipelineError, for_each, on_exit, pipeline, pipeline_status, step, when


@step
def square(x: int) -> int:
    return x * x


@step
def add(a: int, b: int) -> int:
    return a + b


@step
def load(n: int) -> Dataset:
    raise NotImplementedError


@step
def count(data: Dataset) -> int:
    raise NotImplementedError


def test_a_step_outside_a_pipeline_is_a_plain_call() -> None:
    assert square(x=5) == 25


def test_the_demo_traces_to_two_nodes_wired_by_reference() -> None:
    @pipeline
    def demo(x: int = 3):  # type: ignore[no-untyped-def]
        s = square(x=x)
        return add(a=s, b=x)

    graph = demo.graph()
    assert graph.order() == ["square", "add"]
    assert graph.nodes["add"].upstream() == ["square"]
    assert graph.params == {"x": (int, 3)}
    assert graph.output.node == "add"


def test_calling_a_step_twice_gives_distinct_nodes() -> None:
    @pipeline
    def twice(x: int = 1):  # type: ignore[no-untyped-def]
        return add(a=square(x=x), b=square(x=2))

    assert twice.graph().order() == ["square", "square-2", "add"]


def test_an_unbound_input_is_named() -> None:
    @pipeline
    def broken(x: int = 1):  # type: ignore[no-untyped-def]
        return add(a=x)

    with pytest.raises(PipelineError, match=r"Step 'add' input 'b' is not bound in pipeline 'broken'"):
        broken.graph()


def test_a_cycle_made_with_after_is_reported_with_its_path() -> None:
    @pipeline
    def loop(x: int = 1):  # type: ignore[no-untyped-def]
        a = square(x=x)
        b = add(a=a, b=1)
        a.after(b)
        return b

    with pytest.raises(PipelineError, match=r"has a cycle: .*square -> add -> square|add -> square -> add"):
        loop.graph()


def test_an_artifact_input_fed_a_value_is_refused() -> None:
    @pipeline
    def mismatch(x: int = 1):  # type: ignore[no-untyped-def]
        return count(data=square(x=x))

    with pytest.raises(PipelineError, match="wants a Dataset but 'square' returns a value"):
        mismatch.graph()


def test_conditions_fan_out_and_finally_are_recorded() -> None:
    @step
    def report(status: str) -> str:
        return status

    @pipeline
    def rich(x: int = 2):  # type: ignore[no-untyped-def]
        s = square(x=x)
        with when(s, ">", 3):
            big = add(a=s, b=1)
        many = for_each(square, "x", [1, 2, 3], parallelism=2)
        on_exit(report, status=pipeline_status())
        return [big, many]

    graph = rich.graph()
    assert graph.nodes["add"].conditions[0].op == ">"
    assert graph.nodes["square-2"].fan_out is not None
    assert graph.nodes["square-2"].fan_out.parallelism == 2
    assert graph.nodes["report"].is_finally
    assert graph.order()[-1] == "report"


def test_when_outside_a_pipeline_is_an_error() -> None:
    with pytest.raises(PipelineError, match="only allowed inside a @pipeline"), when(None, "==", 1):  # type: ignore[arg-type]
        pass
