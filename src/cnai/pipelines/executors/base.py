"""The executor plugin point: where a step's attempts run. Executors register by name here, so a
new one (a Kubernetes Job executor, say) is one module and one entry in :data:`EXECUTORS`."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import Any

from cnai.errors import InvalidArgument
from cnai.pipelines.execute import Task, TaskResult

# name -> "module:Class"; imported on use, so the ray extra is needed only by --executor ray.
EXECUTORS = {
    "local": "cnai.pipelines.executors.local:LocalExecutor",
    "ray": "cnai.pipelines.executors.ray:RayExecutor",
}


class Executor(ABC):
    """Runs tasks; a result, never an exception, ends each future (a dead worker or a timeout is a
    failed result the runner may retry)."""

    name: str = ""
    #: How many tasks it runs at once; the runner never hands it more.
    max_parallel: int = 1

    def prepare(self, task: Task) -> None:  # noqa: B027 (optional hook)
        """Called with the run's first task before any is submitted: start workers, import code."""

    @abstractmethod
    def submit(self, task: Task) -> Future[TaskResult]:
        """Start ``task``; its future resolves to the :class:`TaskResult`."""

    @abstractmethod
    def close(self) -> None:
        """Stop whatever it started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(name: str, **options: Any) -> Executor:
    if name not in EXECUTORS:
        raise InvalidArgument(f"Unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")
    module, cls = EXECUTORS[name].split(":")
    executor: Executor = getattr(importlib.import_module(module), cls)(**options)
    return executor
