"""The local executor: a pool of warm worker processes.

A process per step would pay interpreter start-up and imports on every step (that is most of
Kubeflow's local runner's 0.6-1.5 s per step). Here workers start once per run, lazily (a cached
rerun starts none), import the pipeline file ahead of the first step, and then only exchange small
pickled messages. A worker that dies (SIGKILL, OOM) or overruns a step's timeout is killed and
replaced; the attempt comes back failed and the runner retries it under the step's policy.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import IO

from cnai.pipelines.execute import Task, TaskResult
from cnai.pipelines.executors.base import Executor
from cnai.pipelines.executors.worker import HEADER, write_message


class WorkerDied(Exception):
    pass


class _Worker:
    def __init__(self, warm: Task | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cnai.pipelines.executors.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the runner, which stops us
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.fd = self.proc.stdout.fileno()
        if warm is not None:
            write_message(self.stdin, ("load", warm))

    def run(self, task: Task) -> TaskResult:
        try:
            write_message(self.stdin, ("run", task))
        except (BrokenPipeError, OSError):
            raise WorkerDied(self._death()) from None
        deadline = None if task.timeout is None else time.monotonic() + task.timeout
        header = self._read(HEADER.size, deadline, task)
        (size,) = HEADER.unpack(header)
        result: TaskResult = pickle.loads(self._read(size, deadline, task))
        return result

    def _read(self, n: int, deadline: float | None, task: Task) -> bytes:
        chunks, got = [], 0
        while got < n:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                self.kill()
                raise TimeoutError(f"step {task.node!r} timed out after {task.timeout:g}s (worker killed)")
            chunk = os.read(self.fd, n - got)
            if not chunk:
                raise WorkerDied(self._death())
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _death(self) -> str:
        code = self.proc.wait()
        if code < 0:
            try:
                return f"worker process killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"worker process killed by signal {-code}"
        return f"worker process exited with code {code}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        try:
            self.stdin.close()  # EOF: the worker's loop returns
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_parallel = max_workers or max(2, min(8, os.cpu_count() or 2))
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._count = 0
        self._pending: deque[tuple[Task, Future[TaskResult]]] = deque()
        self._warm: Task | None = None
        self._closed = False
        self._all: list[_Worker] = []

    def prepare(self, task: Task) -> None:
        self._warm = task
        with self._lock:  # one worker now: its imports overlap the runner's planning
            if self._count == 0:
                self._count = 1
                worker = _Worker(task)
                self._all.append(worker)
                self._idle.append(worker)

    def submit(self, task: Task) -> Future[TaskResult]:
        future: Future[TaskResult] = Future()
        with self._lock:
            self._pending.append((task, future))
            self._dispatch()
        return future

    def _dispatch(self) -> None:  # holds the lock
        while self._pending and not self._closed:
            if self._idle:
                worker = self._idle.pop()
            elif self._count < self.max_parallel:
                self._count += 1
                worker = _Worker(self._warm)
                self._all.append(worker)
            else:
                return
            task, future = self._pending.popleft()
            threading.Thread(target=self._run, args=(worker, task, future), daemon=True).start()

    def _run(self, worker: _Worker, task: Task, future: Future[TaskResult]) -> None:
        start = time.perf_counter()
        try:
            result = worker.run(task)
        except (WorkerDied, TimeoutError) as exc:
            result = TaskResult(False, error=str(exc), duration_s=time.perf_counter() - start)
        except Exception as exc:
            result = TaskResult(False, error=f"{type(exc).__name__}: {exc}", duration_s=time.perf_counter() - start)
        with self._lock:
            if worker.alive():
                self._idle.append(worker)
            else:  # replaced on demand by the next dispatch
                worker.kill()
                self._count -= 1
                self._all.remove(worker)
            self._dispatch()
        future.set_result(result)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.close()
