"""The pipeline DSL: ``@step`` functions, ``@pipeline`` composition, conditions, fan-out, finally.

A ``@pipeline`` function is *traced*, not run: its parameters are references, and each step call
inside it records a node in a :class:`Graph` and returns a :class:`Ref` to that node's future
output. The graph's shape therefore never depends on parameter values, which is what lets
``cnai pipeline plan`` and the compilers see the whole pipeline before anything runs. Outside a
pipeline, a step is a plain function call (handy in unit tests of the step itself).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from cnai.errors import InvalidArgument
from cnai.pipelines.types import Artifact, is_artifact_type

P = ParamSpec("P")
R = TypeVar("R")

CONDITION_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    "in": lambda a, b: a in b,
}


class PipelineError(InvalidArgument):
    """A pipeline that cannot be built or run as written (an unbound input, a cycle, ...)."""


@dataclass(frozen=True)
class StepOptions:
    """How a step runs. ``backoff`` seconds before the first retry, doubled for each later one.

    ``resources`` (e.g. ``{"cpu": "2", "memory": "4Gi", "gpu": "1"}``) are not enforced locally;
    the compilers put them on the step's container. ``deps`` names distributions whose installed
    versions join the cache key (``deps=["scikit-learn"]``)."""

    retries: int = 0
    backoff: float = 1.0
    timeout: float | None = None
    resources: tuple[tuple[str, str], ...] = ()
    cache: bool = True
    deps: tuple[str, ...] = ()
    register: str | None = None  # a Model output is registered under this name


@dataclass(frozen=True)
class Ref:
    """A reference to a value known only at run time: a node's output or a pipeline parameter."""

    node: str | None = None
    param: str | None = None
    special: str | None = None  # "status": the pipeline's status, for finally steps

    def after(self, *others: Ref) -> Ref:
        """Run this ref's step only after ``others`` finish (an ordering edge without data)."""
        graph = _current("after()")
        if self.node is None:
            raise PipelineError("after() needs a step's output, not a pipeline parameter")
        node = graph.nodes[self.node]
        for other in others:
            if not isinstance(other, Ref) or other.node is None:
                raise PipelineError(f"{self.node}.after() takes step outputs, got {other!r}")
            node.after.append(other.node)
        return self

    def describe(self) -> str:
        if self.param is not None:
            return f"parameter {self.param!r}"
        if self.special is not None:
            return f"the pipeline's {self.special}"
        return f"the output of {self.node!r}"


@dataclass(frozen=True)
class Condition:
    ref: Ref
    op: str
    value: Any


@dataclass
class FanOut:
    """Run the node's step once per item of ``items`` (a list or a Ref to one), bound to ``arg``."""

    arg: str
    items: Any
    parallelism: int


@dataclass
class Node:
    name: str
    step: Step[..., Any]
    inputs: dict[str, Any]  # arg -> Ref or a literal
    conditions: tuple[Condition, ...] = ()
    fan_out: FanOut | None = None
    is_finally: bool = False
    after: list[str] = field(default_factory=list)

    def refs(self) -> Iterator[Ref]:
        for value in self.inputs.values():
            if isinstance(value, Ref):
                yield value
        for cond in self.conditions:
            yield cond.ref
        if self.fan_out is not None and isinstance(self.fan_out.items, Ref):
            yield self.fan_out.items

    def upstream(self) -> list[str]:
        """The nodes this one waits for, in a stable order."""
        seen: dict[str, None] = {}
        for ref in self.refs():
            if ref.node is not None:
                seen[ref.node] = None
        for name in self.after:
            seen[name] = None
        return list(seen)


@dataclass
class Graph:
    """A traced pipeline: nodes in creation order, its parameters and its output."""

    name: str
    params: dict[str, tuple[Any, Any]]  # name -> (annotation, default or inspect.Parameter.empty)
    nodes: dict[str, Node] = field(default_factory=dict)
    output: Any = None
    _conditions: list[Condition] = field(default_factory=list)

    def add(self, node: Node) -> Ref:
        base, n = node.name, 2
        while node.name in self.nodes:  # the same step called twice: square, square-2, ...
            node.name = f"{base}-{n}"
            n += 1
        self.nodes[node.name] = node
        return Ref(node=node.name)

    def order(self) -> list[str]:
        """Nodes in a topological order (finally nodes last); raises PipelineError on a cycle."""
        state: dict[str, int] = {}
        out: list[str] = []

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*path[path.index(name) :], name]
                raise PipelineError(f"Pipeline {self.name!r} has a cycle: {' -> '.join(cycle)}; remove an .after()")
            if name not in self.nodes:
                raise PipelineError(f"Pipeline {self.name!r} refers to an unknown step {name!r}")
            state[name] = 1
            for up in self.nodes[name].upstream():
                visit(up, [*path, name])
            state[name] = 2
            out.append(name)

        for name in self.nodes:
            visit(name, [])
        return [n for n in out if not self.nodes[n].is_finally] + [n for n in out if self.nodes[n].is_finally]


_TRACE: contextvars.ContextVar[Graph | None] = contextvars.ContextVar("cnai_pipeline_trace", default=None)


def _current(what: str) -> Graph:
    graph = _TRACE.get()
    if graph is None:
        raise PipelineError(f"{what} is only allowed inside a @pipeline function")
    return graph


class Step(Generic[P, R]):
    """A function that runs as one unit of a pipeline: cached, retried and tracked on its own."""

    def __init__(self, fn: Callable[P, R], options: StepOptions) -> None:
        self.fn = fn
        self.name = fn.__name__.replace("_", "-")
        self.options = options
        self.signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
        self.input_types: dict[str, Any] = {p: hints.get(p, Any) for p in self.signature.parameters}
        self.output_type: Any = hints.get("return", Any)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        graph = _TRACE.get()
        if graph is None:
            return self.fn(*args, **kwargs)
        return self._record(graph, self._bind(args, kwargs), fan_out=None, is_finally=False)  # type: ignore[return-value]

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise PipelineError(f"Step {self.name!r}: {exc}") from None
        return dict(bound.arguments)

    def _record(self, graph: Graph, inputs: dict[str, Any], fan_out: FanOut | None, is_finally: bool) -> Ref:
        for arg, param in self.signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise PipelineError(f"Step {self.name!r}: *args/**kwargs are not supported; name each input")
            bound = arg in inputs or (fan_out is not None and fan_out.arg == arg)
            if not bound and param.default is param.empty:
                raise PipelineError(
                    f"Step {self.name!r} input {arg!r} is not bound in pipeline {graph.name!r}: pass {arg}=..."
                )
        for arg, value in inputs.items():
            if isinstance(value, Ref):
                _check_ref(graph, self, arg, value)
            elif isinstance(value, Artifact):
                raise PipelineError(f"Step {self.name!r} input {arg!r}: pass artifacts as step outputs or File params")
        node = Node(self.name, self, inputs, tuple(graph._conditions), fan_out, is_finally)
        return graph.add(node)


def _check_ref(graph: Graph, step: Step[..., Any], arg: str, ref: Ref) -> None:
    if ref.node is not None and ref.node not in graph.nodes:
        raise PipelineError(f"Step {step.name!r} input {arg!r} refers to a step outside pipeline {graph.name!r}")
    if ref.param is not None and ref.param not in graph.params:
        raise PipelineError(f"Step {step.name!r} input {arg!r} refers to an unknown parameter {ref.param!r}")
    wanted = step.input_types.get(arg, Any)
    if ref.node is not None and graph.nodes[ref.node].fan_out is None:
        produced = graph.nodes[ref.node].step.output_type
        if is_artifact_type(wanted) and produced is not Any and not is_artifact_type(produced):
            raise PipelineError(
                f"Step {step.name!r} input {arg!r} wants a {wanted.__name__} but {ref.node!r} returns a value"
            )
        if is_artifact_type(produced) and wanted is not Any and not is_artifact_type(wanted):
            raise PipelineError(f"Step {step.name!r} input {arg!r} wants a value but {ref.node!r} returns an artifact")


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    retries: int = 0,
    backoff: float = 1.0,
    timeout: float | None = None,
    resources: dict[str, str] | None = None,
    cache: bool = True,
    deps: list[str] | tuple[str, ...] = (),
    register: str | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    retries: int = 0,
    backoff: float = 1.0,
    timeout: float | None = None,
    resources: dict[str, str] | None = None,
    cache: bool = True,
    deps: list[str] | tuple[str, ...] = (),
    register: str | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step; use bare (``@step``) or with options (``@step(retries=3)``)."""
    if retries < 0 or backoff < 0 or (timeout is not None and timeout <= 0):
        raise PipelineError("retries and backoff must be >= 0 and timeout > 0")
    options = StepOptions(
        retries, backoff, timeout, tuple(sorted((resources or {}).items())), cache, tuple(deps), register
    )

    def wrap(f: Callable[P, R]) -> Step[P, R]:
        return Step(f, options)

    return wrap(fn) if fn is not None else wrap


class Pipeline:
    """A traced composition of steps; call :meth:`graph` to get its DAG."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def graph(self) -> Graph:
        hints = typing.get_type_hints(self.fn)
        params = {p: (hints.get(p, Any), v.default) for p, v in self.signature.parameters.items()}
        graph = Graph(self.name, params)
        token = _TRACE.set(graph)
        try:
            graph.output = self.fn(**{p: Ref(param=p) for p in params})
        finally:
            _TRACE.reset(token)
        if isinstance(graph.output, Ref) and graph.output.node is not None and graph.output.node not in graph.nodes:
            raise PipelineError(f"Pipeline {self.name!r} returns the output of a step outside it")
        graph.order()  # a cycle fails here, before anything runs
        return graph

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise PipelineError(f"Run pipeline {self.name!r} with `cnai pipeline run` or cnai.pipelines.run(...)")


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Compose steps: the decorated function is traced once into a DAG."""
    if fn is not None:
        return Pipeline(fn, name)
    return lambda f: Pipeline(f, name)


@contextlib.contextmanager
def when(ref: Ref, op: str, value: Any) -> Iterator[None]:
    """Steps created inside run only if ``<ref> <op> <value>`` holds at run time; otherwise they
    and every step that consumes their outputs are skipped (Kubeflow's ``dsl.If`` semantics)."""
    graph = _current("when()")
    if op not in CONDITION_OPS:
        raise PipelineError(f"when(): unknown operator {op!r}; use one of {', '.join(CONDITION_OPS)}")
    if not isinstance(ref, Ref):
        raise PipelineError("when() compares a step output or a pipeline parameter, got a plain value")
    graph._conditions.append(Condition(ref, op, value))
    try:
        yield
    finally:
        graph._conditions.pop()


def for_each(step_: Step[..., Any], arg: str, items: Any, *, parallelism: int = 4, **inputs: Any) -> Ref:
    """Run ``step_`` once per element of ``items`` (a list, or a step output that is a list) bound
    to input ``arg``, at most ``parallelism`` at a time; the output is the list of results."""
    graph = _current("for_each()")
    if parallelism < 1:
        raise PipelineError("for_each(): parallelism must be at least 1")
    if arg not in step_.signature.parameters:
        raise PipelineError(f"for_each(): step {step_.name!r} has no input {arg!r}")
    if not isinstance(items, Ref | list | tuple):
        raise PipelineError("for_each(): items must be a list or a step output")
    return step_._record(graph, step_._bind((), inputs), FanOut(arg, items, parallelism), is_finally=False)


def on_exit(step_: Step[..., Any], **inputs: Any) -> Ref:
    """A ``finally`` step: runs after all others whatever happened, never cached. An input bound to
    :func:`pipeline_status` receives ``"succeeded"`` or ``"failed"``; inputs from steps that did not
    produce an output receive ``None``."""
    graph = _current("on_exit()")
    return step_._record(graph, step_._bind((), inputs), fan_out=None, is_finally=True)


def pipeline_status() -> Ref:
    """A reference to the pipeline's status, for ``on_exit`` steps."""
    _current("pipeline_status()")
    return Ref(special="status")
