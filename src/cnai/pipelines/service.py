"""Load, plan and run a pipeline file: what the CLI and tests call."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnai.artifacts import ArtifactStore, store_from_uri
from cnai.errors import CnaiError, InvalidArgument
from cnai.pipelines import cache, loader, objects, params
from cnai.pipelines.dsl import CONDITION_OPS, Graph, Ref
from cnai.pipelines.executors.base import make_executor
from cnai.pipelines.runner import PipelineRun, RunReport
from cnai.pipelines.tracking import Tracker, make_tracker
from cnai.settings import Settings


@dataclass
class Loaded:
    graph: Graph
    module: str
    source: str
    filename: str
    params: dict[str, Any]
    files: dict[str, Path]


def load(path: str | Path, pipeline: str | None, given: dict[str, Any]) -> Loaded:
    module, source = loader.load_file(path)
    chosen = loader.find_pipeline(module, pipeline)
    try:
        graph = chosen.graph()
    except CnaiError:
        raise
    except Exception as exc:
        raise InvalidArgument(f"Pipeline {chosen.name!r} failed to build: {type(exc).__name__}: {exc}") from None
    values, files = params.resolve(graph, given)
    assert module.__file__ is not None
    return Loaded(graph, module.__name__, source, module.__file__, values, files)


def _store(settings: Settings) -> ArtifactStore:
    return store_from_uri(settings.artifacts, s3_endpoint_url=settings.s3_endpoint_url)


def run(
    loaded: Loaded,
    settings: Settings,
    *,
    executor: str = "local",
    remote: bool = False,
    tracker: Tracker | None = None,
    experiment: str = "pipelines",
    executor_options: dict[str, Any] | None = None,
) -> RunReport:
    own_tracker = tracker is None
    tracker = tracker or make_tracker(settings, remote)
    try:
        with make_executor(executor, **(executor_options or {})) as ex:
            return PipelineRun(
                loaded.graph,
                loaded.params,
                loaded.files,
                loaded.module,
                loaded.source,
                loaded.filename,
                _store(settings),
                tracker,
                ex,
                experiment=experiment,
                s3_endpoint_url=settings.s3_endpoint_url,
                scratch=str(settings.home / "pipelines" / "scratch") if settings.home else tempfile.gettempdir(),
            ).run()
    finally:
        if own_tracker:
            tracker.close()


@dataclass
class PlannedStep:
    name: str
    cached: bool
    status: str  # "cached", "run" or "skipped"
    reason: str
    key: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "cached": self.cached, "status": self.status, "reason": self.reason, "key": self.key}


def plan(loaded: Loaded, settings: Settings) -> list[PlannedStep]:
    """Which steps a run would serve from the cache, with the same keys the run computes."""
    store = _store(settings)
    digests = {name: objects.digest_of(path) for name, path in loaded.files.items()}
    keys = cache.node_keys(loaded.graph, loaded.params, digests)
    index = cache.CacheIndex(store)
    out: dict[str, PlannedStep] = {}
    values: dict[str, Any] = {}  # cached outputs known now, for conditions
    for name in loaded.graph.order():
        node = loaded.graph.nodes[name]
        key = keys[name]
        if node.is_finally:
            out[name] = PlannedStep(name, False, "run", "finally steps always run", key)
            continue
        upstream = [out[u] for u in node.upstream()]
        skipped = next((u for u in upstream if u.status == "skipped"), None)
        if skipped is not None:
            out[name] = PlannedStep(name, False, "skipped", f"upstream {skipped.name!r} is skipped", key)
            continue
        verdict = _condition(node.conditions, loaded.params, values)
        if verdict is False:
            out[name] = PlannedStep(name, False, "skipped", "its condition is false", key)
            continue
        entry = index.get(key) if node.step.options.cache else None
        if entry is not None:
            values[name] = entry["output"]
            out[name] = PlannedStep(name, True, "cached", "cache hit: same code, dependencies and inputs", key)
            continue
        running = next((u for u in upstream if u.status == "run"), None)
        if not node.step.options.cache:
            reason = "caching is off for this step"
        elif running is not None:
            reason = f"upstream {running.name!r} runs, so its inputs are new"
        else:
            reason = "no cache entry for this code, its dependencies and these inputs"
        if verdict is None:
            reason += " (if its condition holds)"
        out[name] = PlannedStep(name, False, "run", reason, key)
    return list(out.values())


def _condition(conditions: Any, params_: dict[str, Any], values: dict[str, Any]) -> bool | None:
    """True/False when every condition can be evaluated now, None when one depends on a step that runs."""
    for cond in conditions:
        ref: Ref = cond.ref
        if ref.param is not None:
            value = params_[ref.param]
        elif ref.node is not None and ref.node in values and values[ref.node].get("t") == "value":
            value = values[ref.node]["v"]
        else:
            return None
        if not CONDITION_OPS[cond.op](value, cond.value):
            return False
    return True
