"""Execute one step: the code every executor runs where the step runs (a warm worker, a Ray task,
a container started by Kubeflow or Argo through ``python -m cnai.pipelines.entry``)."""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cnai.artifacts import ArtifactStore, store_from_uri
from cnai.pipelines import loader, objects
from cnai.pipelines.dsl import Step
from cnai.pipelines.types import _OUTPUT_DIR, Artifact


@dataclass
class Task:
    """One attempt at one step (or one element of a fan-out), fully described by value."""

    node: str
    module: str
    qualname: str
    source: str
    filename: str
    inputs: dict[str, Any]  # arg -> reference ({"t": "value"|"artifact"|"list", ...})
    store_uri: str
    s3_endpoint_url: str = ""
    timeout: float | None = None
    attempt: int = 1
    scratch: str = ""


@dataclass
class TaskResult:
    ok: bool
    output: dict[str, Any] | None = None
    error: str = ""
    trace: str = ""
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


_stores: dict[tuple[str, str], ArtifactStore] = {}


def _store(uri: str, endpoint: str) -> ArtifactStore:
    key = (uri, endpoint)
    if key not in _stores:
        _stores[key] = store_from_uri(uri, s3_endpoint_url=endpoint)
    return _stores[key]


def load_step(task: Task) -> Step[..., Any]:
    if task.module.startswith(loader.MODULE_PREFIX):
        module = loader.load_source(task.module, task.source, task.filename)
    else:
        module = importlib.import_module(task.module)
    found = loader.resolve(module, task.qualname)
    if not isinstance(found, Step):
        raise TypeError(f"{task.module}.{task.qualname} is not a @step")
    return found


def decode(store: ArtifactStore, ref: dict[str, Any], scratch: Path) -> Any:
    kind = ref["t"]
    if kind == "value":
        return ref["v"]
    if kind == "artifact":
        return objects.materialize(store, ref, scratch)
    if kind == "list":
        return [decode(store, r, scratch) for r in ref["items"]]
    raise ValueError(f"unknown reference type {kind!r}")


def encode(store: ArtifactStore, value: Any, step_name: str) -> dict[str, Any]:
    if isinstance(value, Artifact):
        return objects.publish(store, value)
    if isinstance(value, list | tuple) and any(isinstance(v, Artifact) for v in value):
        return {"t": "list", "items": [encode(store, v, step_name) for v in value]}
    try:
        orjson.dumps(value)
    except TypeError:
        raise TypeError(
            f"step {step_name!r} returned a {type(value).__name__}: return JSON-able values or an artifact "
            "(Dataset, Model, Metrics, File)"
        ) from None
    return {"t": "value", "v": value}


def execute(task: Task) -> TaskResult:
    """Run the task's step with its inputs materialised; never raises (errors come back as a result)."""
    start = time.perf_counter()
    scratch = Path(task.scratch or tempfile.gettempdir()) / "cnai-pipeline-inputs"
    out_dir = Path(tempfile.mkdtemp(prefix="cnai-step-"))
    token = _OUTPUT_DIR.set(out_dir)
    try:
        step = load_step(task)
        store = _store(task.store_uri, task.s3_endpoint_url)
        kwargs = {arg: decode(store, ref, scratch) for arg, ref in task.inputs.items()}
        value = step.fn(**kwargs)
        output = encode(store, value, step.name)
        return TaskResult(True, output, duration_s=time.perf_counter() - start)
    except Exception as exc:
        return TaskResult(
            False,
            error=f"{type(exc).__name__}: {exc}",
            trace=traceback.format_exc(limit=-8),
            duration_s=time.perf_counter() - start,
        )
    finally:
        _OUTPUT_DIR.reset(token)
        shutil.rmtree(out_dir, ignore_errors=True)
