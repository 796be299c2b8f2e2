"""The Ray executor: each step attempt is a Ray task on an existing cluster (``--ray-address``)
or on a local one started for the run (needs the ``ray`` extra: ``pip install 'cnai[ray]'``).

Tasks carry the pipeline file's text, so cluster nodes need cnai installed but no copy of the
user's files; the artifact store must be one every node reaches (S3 on a real cluster). Ray's own
retries are off: the runner retries under the step's policy, so attempts, backoff and tracking
behave the same on every executor. A worker killed mid-step surfaces as a failed attempt.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cnai.errors import InvalidArgument, Unavailable
from cnai.pipelines.execute import Task, TaskResult, execute
from cnai.pipelines.executors.base import Executor


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, max_workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidArgument("--executor ray needs Ray: pip install 'cnai[ray]'") from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            # Local Ray workers must import cnai the way this process does (a source checkout
            # works through PYTHONPATH too).
            env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            try:
                ray.init(
                    address=address or None,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    runtime_env={"env_vars": env} if not address else None,
                )
            except Exception as exc:  # Ray raises bare Exception when its raylet starts too slowly
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise Unavailable(f"Cannot start or reach Ray at {address or 'a new local cluster'}: {first}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.max_parallel = max_workers or max(1, cpus)
        self._remote = ray.remote(max_retries=0)(execute)
        self._waiters = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="cnai-ray-wait")

    def submit(self, task: Task) -> Future[TaskResult]:
        ref = self._remote.remote(task)
        return self._waiters.submit(self._wait, ref, task)

    def _wait(self, ref: Any, task: Task) -> TaskResult:
        ray = self._ray
        try:
            result: TaskResult = ray.get(ref, timeout=task.timeout)
            return result
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            return TaskResult(False, error=f"step {task.node!r} timed out after {task.timeout:g}s (Ray task cancelled)")
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return TaskResult(False, error=f"Ray task failed: {type(exc).__name__}: {first}")

    def close(self) -> None:
        self._waiters.shutdown(wait=True)
        if self._started_here:
            self._ray.shutdown()
