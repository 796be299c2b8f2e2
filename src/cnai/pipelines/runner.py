"""Run a traced pipeline: dispatch ready steps to an executor, cache, retry, record.

The loop is a small scheduler over the DAG. A node becomes ready when everything it waits for is
done; then, in this order, it is skipped (an upstream failed or was skipped, or its condition is
false), served from the cache (its key, computed before the run by :func:`cache.node_keys`, has an
entry), or dispatched. Failed attempts are retried after ``backoff * 2**(attempt-1)`` seconds while
the step has retries left. ``finally`` nodes wait for every other node and always run. Every node
gets a child run of the pipeline's run, finished with its state, timing, cache hit and lineage tags.
"""

from __future__ import annotations

import heapq
import itertools
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cnai.artifacts import ArtifactStore
from cnai.pipelines import cache, lineage, objects
from cnai.pipelines.dsl import CONDITION_OPS, Graph, Node, Ref
from cnai.pipelines.execute import Task, TaskResult
from cnai.pipelines.executors.base import Executor
from cnai.pipelines.tracking import PARENT_TAG, Tracker, now_ms
from cnai.pipelines.types import File

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"


@dataclass
class StepReport:
    name: str
    status: str = "pending"
    cached: bool = False
    run_id: str = ""
    key: str = ""
    attempts: int = 0
    duration_s: float = 0.0
    error: str = ""
    reason: str = ""
    output: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cached": self.cached,
            "status": self.status,
            "run_id": self.run_id,
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 4),
            "error": self.error or None,
        }


@dataclass
class RunReport:
    run_id: str
    status: str
    output: Any
    steps: list[StepReport]
    error: str = ""
    executed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "output": self.output,
            "steps": [s.as_json() for s in self.steps],
            "error": self.error or None,
        }


@dataclass
class _Work:
    """One unit in flight: a node's attempt, or one element of a fan-out."""

    node: str
    index: int | None
    inputs: dict[str, Any]
    key: str
    attempt: int = 1
    run_id: str = ""
    started_ms: int = 0


@dataclass
class _FanState:
    items: list[Any]
    outputs: list[dict[str, Any] | None]
    queued: list[int]
    running: int = 0
    failed: str = ""
    done: int = 0


@dataclass
class PipelineRun:
    graph: Graph
    params: dict[str, Any]
    files: dict[str, Path]
    module: str
    source: str
    filename: str
    store: ArtifactStore
    tracker: Tracker
    executor: Executor
    experiment: str = "pipelines"
    s3_endpoint_url: str = ""
    scratch: str = ""
    reports: dict[str, StepReport] = field(default_factory=dict)

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> RunReport:
        file_refs = {name: objects.publish(self.store, File(path)) for name, path in self.files.items()}
        self._file_refs = file_refs
        keys = cache.node_keys(self.graph, self.params, {n: r["digest"] for n, r in file_refs.items()})
        self._keys = keys
        self._index = cache.CacheIndex(self.store)
        order = self.graph.order()
        self.reports = {n: StepReport(n, key=keys[n]) for n in order}
        self._outputs: dict[str, dict[str, Any] | None] = {}
        self._fans: dict[str, _FanState] = {}
        self._fan_inputs: dict[str, dict[str, Any]] = {}
        self._executed = 0
        exp = self.tracker.experiment_id(self.experiment)
        self._exp = exp
        self.run_id = self.tracker.create_run(
            exp,
            self.graph.name,
            {
                "cnai.pipeline.name": self.graph.name,
                "cnai.pipeline.file": self.filename,
                "cnai.pipeline.executor": self.executor.name,
            },
            now_ms(),
            {k: _param_text(v) for k, v in self.params.items()},
        )
        inflight: dict[Future[TaskResult], _Work] = {}
        retries: list[tuple[float, int, _Work]] = []
        seq = itertools.count()
        pending = list(order)
        started = False
        while pending or inflight or retries:
            progressed = True
            while progressed:
                progressed = False
                for name in list(pending):
                    if not self._ready(name):
                        continue
                    pending.remove(name)
                    progressed = True
                    for work in self._start(name):
                        if not started:
                            self.executor.prepare(self._task(work))
                            started = True
                        inflight[self.executor.submit(self._task(work))] = work
                for name, fan in self._fans.items():  # bounded fan-out: top up each node
                    while fan.queued and fan.running < self.graph.nodes[name].fan_out.parallelism:  # type: ignore[union-attr]
                        work = self._item_work(name, fan.queued.pop(0))
                        fan.running += 1
                        inflight[self.executor.submit(self._task(work))] = work
            now = time.monotonic()
            while retries and retries[0][0] <= now:
                _, _, work = heapq.heappop(retries)
                inflight[self.executor.submit(self._task(work))] = work
            if not inflight and not retries:
                if pending and not any(self._ready(n) for n in pending):  # cannot happen on an acyclic graph
                    raise RuntimeError(f"pipeline stalled with {pending} pending")
                continue
            timeout = max(0.0, retries[0][0] - time.monotonic()) if retries else None
            done, _ = wait(list(inflight), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                work = inflight.pop(future)
                result = future.result()
                again = self._finish_attempt(work, result)
                if again is not None:
                    delay = self.graph.nodes[work.node].step.options.backoff * 2 ** (work.attempt - 2)
                    heapq.heappush(retries, (time.monotonic() + delay, next(seq), again))
        return self._close()

    def _ready(self, name: str) -> bool:
        node = self.graph.nodes[name]
        if node.is_finally:
            return all(
                self.reports[n].status in (SUCCEEDED, FAILED, SKIPPED)
                for n, other in self.graph.nodes.items()
                if not other.is_finally
            )
        return all(self.reports[up].status in (SUCCEEDED, FAILED, SKIPPED) for up in node.upstream())

    def _start(self, name: str) -> list[_Work]:
        node, report = self.graph.nodes[name], self.reports[name]
        if not node.is_finally:
            blocked = [up for up in node.upstream() if self.reports[up].status != SUCCEEDED]
            if blocked:
                return self._skip(name, f"upstream {blocked[0]!r} {self.reports[blocked[0]].status}")
            for cond in node.conditions:
                value = self._value(cond.ref)
                if not CONDITION_OPS[cond.op](value, cond.value):
                    return self._skip(name, f"condition {cond.ref.describe()} {cond.op} {cond.value!r} is false")
            entry = self._index.get(report.key) if node.step.options.cache else None
            if entry is not None:
                report.cached, report.reason = True, "cache hit"
                self._succeed(name, entry["output"], cached_entry=entry)
                return []
        inputs = {arg: self._ref_for(v) for arg, v in node.inputs.items()}
        report.status = "running"
        parent_tags = {PARENT_TAG: self.run_id, **self._node_tags(node)}
        report.run_id = self.tracker.create_run(self._exp, name, parent_tags, now_ms())
        if node.fan_out is None:
            return [_Work(name, None, inputs, report.key, run_id=report.run_id, started_ms=now_ms())]
        items = node.fan_out.items
        values = self._value(items) if isinstance(items, Ref) else list(items)
        if not isinstance(values, list):
            self._fail(name, f"for_each over {items.describe() if isinstance(items, Ref) else items!r} is not a list")
            return []
        self._fans[name] = _FanState(values, [None] * len(values), [], 0)
        self._fan_inputs[name] = inputs
        fan = self._fans[name]
        for i in range(len(values)):
            entry = self._index.get(cache.item_key(report.key, i)) if node.step.options.cache else None
            if entry is not None:
                fan.outputs[i] = entry["output"]
                fan.done += 1
            else:
                fan.queued.append(i)
        if not fan.queued:
            self._finish_fan(name)
        return []

    def _item_work(self, name: str, i: int) -> _Work:
        node, report = self.graph.nodes[name], self.reports[name]
        inputs = dict(self._fan_inputs[name])
        item = self._fans[name].items[i]
        inputs[node.fan_out.arg] = item if isinstance(item, dict) and "t" in item else {"t": "value", "v": item}  # type: ignore[union-attr]
        tags = {PARENT_TAG: report.run_id, "cnai.pipeline.step": name, "cnai.pipeline.item": str(i)}
        run_id = self.tracker.create_run(self._exp, f"{name}[{i}]", tags, now_ms())
        return _Work(name, i, inputs, cache.item_key(report.key, i), run_id=run_id, started_ms=now_ms())

    def _task(self, work: _Work) -> Task:
        step = self.graph.nodes[work.node].step
        return Task(
            node=work.node if work.index is None else f"{work.node}[{work.index}]",
            module=step.fn.__module__,
            qualname=step.fn.__qualname__,
            source=self.source,
            filename=self.filename,
            inputs=work.inputs,
            store_uri=self.store.root_uri,
            s3_endpoint_url=self.s3_endpoint_url,
            timeout=step.options.timeout,
            attempt=work.attempt,
            scratch=self.scratch,
        )

    def _finish_attempt(self, work: _Work, result: TaskResult) -> _Work | None:
        """Record an attempt's result; returns the next attempt when one is due."""
        node = self.graph.nodes[work.node]
        report = self.reports[work.node]
        report.attempts = max(report.attempts, work.attempt)
        report.duration_s += result.duration_s
        self._executed += 1
        if not result.ok and work.attempt <= node.step.options.retries:
            return _Work(work.node, work.index, work.inputs, work.key, work.attempt + 1, work.run_id, work.started_ms)
        if work.index is None:
            if result.ok:
                assert result.output is not None
                self._succeed(work.node, result.output, key=work.key, attempts=work.attempt)
            else:
                self._fail(work.node, result.error, trace=result.trace, attempts=work.attempt)
            return None
        fan = self._fans[work.node]
        fan.running -= 1
        fan.done += 1
        state = "succeeded" if result.ok else "failed"
        tags = {"cnai.pipeline.state": state, "cnai.pipeline.attempts": str(work.attempt)}
        if result.ok:
            assert result.output is not None
            fan.outputs[work.index] = result.output
            if node.step.options.cache:
                self._index.put(work.key, {"output": result.output, "step": work.node, "run_id": work.run_id})
            tags.update(lineage.output_tags(result.output))
        else:
            fan.failed = fan.failed or f"item {work.index}: {result.error}"
            fan.queued.clear()  # stop feeding a failed fan-out; items in flight finish
            tags["cnai.pipeline.error"] = result.error[:4000]
        self.tracker.finish_run(work.run_id, "FINISHED" if result.ok else "FAILED", now_ms(), tags)
        if fan.running == 0 and (fan.done == len(fan.items) or fan.failed):
            self._finish_fan(work.node)
        return None

    def _finish_fan(self, name: str) -> None:
        fan = self._fans[name]
        if fan.failed:
            self._fail(name, fan.failed)
            return
        output = {"t": "list", "items": fan.outputs}
        self._succeed(name, output, key=self.reports[name].key)

    # -- outcomes ------------------------------------------------------------------------------
    def _succeed(
        self,
        name: str,
        output: dict[str, Any],
        *,
        key: str = "",
        attempts: int = 0,
        cached_entry: dict[str, Any] | None = None,
    ) -> None:
        node, report = self.graph.nodes[name], self.reports[name]
        report.status, report.output = SUCCEEDED, output
        report.attempts = attempts or report.attempts
        self._outputs[name] = output
        tags = {**self._node_tags(node), **lineage.output_tags(output), "cnai.pipeline.state": SUCCEEDED}
        tags["cnai.pipeline.cached"] = "true" if report.cached else "false"
        tags["cnai.pipeline.attempts"] = str(report.attempts)
        metrics = output.get("metrics") if output.get("t") == "artifact" else None
        if cached_entry is not None:
            # A cache hit is one finished child run carrying the lineage of the run that produced it.
            if cached_entry.get("registered"):
                tags[lineage.MODEL_TAG] = cached_entry["registered"]
            report.run_id = self.tracker.create_run(self._exp, name, {PARENT_TAG: self.run_id, **tags}, now_ms())
            self.tracker.finish_run(report.run_id, "FINISHED", now_ms(), {}, metrics)
            return
        registered = self._register(node, output, report.run_id)
        if registered:
            tags[lineage.MODEL_TAG] = registered
        if node.step.options.cache and key and not node.is_finally:
            entry = {"output": output, "step": name, "run_id": report.run_id}
            if registered:
                entry["registered"] = registered
            self._index.put(key, entry)
        self.tracker.finish_run(report.run_id, "FINISHED", now_ms(), tags, metrics)

    def _register(self, node: Node, output: dict[str, Any], run_id: str) -> str:
        """Register a step's Model output when the step asks to; ``name/version`` or ``""``."""
        model_name = node.step.options.register
        if not model_name or output.get("kind") != "Model":
            return ""
        return f"{model_name}/{self.tracker.register_model(model_name, output['uri'], run_id)}"

    def _fail(self, name: str, error: str, *, trace: str = "", attempts: int = 0) -> None:
        report = self.reports[name]
        report.status, report.error = FAILED, error
        report.attempts = attempts or report.attempts
        self._outputs[name] = None
        tags = {
            "cnai.pipeline.state": FAILED,
            "cnai.pipeline.error": error[:4000],
            "cnai.pipeline.cached": "false",
            "cnai.pipeline.attempts": str(report.attempts),
        }
        if trace:
            tags["cnai.pipeline.traceback"] = trace[-4000:]
        self.tracker.finish_run(report.run_id, "FAILED", now_ms(), tags)

    def _skip(self, name: str, reason: str) -> list[_Work]:
        report = self.reports[name]
        report.status, report.reason = SKIPPED, reason
        self._outputs[name] = None
        tags = {
            PARENT_TAG: self.run_id,
            **self._node_tags(self.graph.nodes[name]),
            "cnai.pipeline.state": SKIPPED,
            "cnai.pipeline.reason": reason,
            "cnai.pipeline.cached": "false",
        }
        report.run_id = self.tracker.create_run(self._exp, name, tags, now_ms())
        self.tracker.finish_run(report.run_id, "KILLED", now_ms(), {})
        return []

    def _close(self) -> RunReport:
        steps = list(self.reports.values())
        failed = [s for s in steps if s.status == FAILED]
        status = FAILED if failed else SUCCEEDED
        error = f"step {failed[0].name!r} failed: {failed[0].error}" if failed else ""
        output = None if failed else _plain(self._resolve_output(self.graph.output))
        tags = {"cnai.pipeline.status": status, "cnai.pipeline.executed": str(self._executed)}
        if error:
            tags["cnai.pipeline.error"] = error[:4000]
        else:
            tags["cnai.pipeline.output"] = orjson.dumps(output).decode()[:4000]
        self.tracker.finish_run(self.run_id, "FAILED" if failed else "FINISHED", now_ms(), tags)
        return RunReport(self.run_id, status, output, steps, error, self._executed)

    # -- values --------------------------------------------------------------------------------
    def _ref_for(self, value: Any) -> dict[str, Any]:
        """The reference a worker receives for an input (a step output, a parameter, a literal)."""
        if isinstance(value, Ref):
            if value.node is not None:
                out = self._outputs.get(value.node)
                return out if out is not None else {"t": "value", "v": None}
            if value.param is not None:
                if value.param in self._file_refs:
                    return self._file_refs[value.param]
                return {"t": "value", "v": self.params[value.param]}
            status = FAILED if any(r.status == FAILED for r in self.reports.values()) else SUCCEEDED
            return {"t": "value", "v": status}
        return {"t": "value", "v": value}

    def _value(self, ref: Ref) -> Any:
        return _plain(self._ref_for(ref), values_only=True)

    def _resolve_output(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return self._ref_for(value)
        if isinstance(value, dict):
            return {"t": "value", "v": {k: _plain(self._resolve_output(v)) for k, v in value.items()}}
        if isinstance(value, list | tuple):
            return {"t": "value", "v": [_plain(self._resolve_output(v)) for v in value]}
        return {"t": "value", "v": value}

    def _node_tags(self, node: Node) -> dict[str, str]:
        tags = {
            "cnai.pipeline.step": node.name,
            "cnai.pipeline.key": self._keys[node.name],
            "cnai.pipeline.upstream": ",".join(node.upstream()),
        }
        if node.is_finally:
            tags["cnai.pipeline.finally"] = "true"
        tags.update(lineage.input_tags(node, self._ref_for))
        return tags


def _plain(ref: Any, values_only: bool = False) -> Any:
    """A reference as the JSON a user sees: the value, or an artifact's uri/digest/kind."""
    if not isinstance(ref, dict) or "t" not in ref:
        return ref
    if ref["t"] == "value":
        return ref["v"]
    if ref["t"] == "list":
        return [_plain(r, values_only) for r in ref["items"]]
    out = {"kind": ref["kind"], "uri": ref["uri"], "digest": ref["digest"]}
    if "metrics" in ref:
        out["metrics"] = ref["metrics"]
    return out


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()
