"""The local executor: warm worker processes on this machine, reused trial after trial.

Workers come from a forkserver: each is a fresh, small process (no copy of the driver's threads or
open stores) that imports the objective's module once, then runs every trial it is given. A worker
that dies (killed, out of memory, a crash in native code) is noticed through its process sentinel,
reported as ``Lost`` with its trial, and replaced; the driver decides about the retry.

Start-up is most of what a short study pays, so: ``launch`` starts the workers without waiting
(the driver opens its stores meanwhile), a worker imports only ``_local_worker`` and the objective,
and it does not re-run the driver's ``__main__`` (see ``_no_main_in_children``).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from cnai.errors import Unavailable
from cnai.tune.executors.base import Event, Executor, Finished, Lost, Report, Task
from cnai.tune.objective import ObjectiveImportError

START_TIMEOUT_S = 120.0


class _Slot:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid = 0
        self.ready = False
        self.task: Task | None = None


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, start_method: str = "forkserver", **_: Any) -> None:
        self.ctx: Any = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self.ctx.set_forkserver_preload(["cnai.tune.executors._local_worker"])
        self.objective = ""
        self.slots: list[_Slot] = []

    def launch(self, objective: str, workers: int) -> None:
        self.objective = objective
        self.slots = [self._spawn() for _ in range(workers)]

    def start(self, objective: str, workers: int) -> None:
        if not self.slots:
            self.launch(objective, workers)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(s.ready for s in self.slots):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"The local workers did not start within {START_TIMEOUT_S:.0f} s.")
            for event in self.poll(min(left, 1.0)):
                raise Unavailable(f"A worker sent {event} before the study began.")

    def _spawn(self) -> _Slot:
        from cnai.tune.executors import _local_worker

        parent, child = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(target=_local_worker.main, args=(child, self.objective), name="cnai-tune-worker")
        with _no_main_in_children():
            process.start()
        child.close()
        return _Slot(process, parent)

    def idle(self) -> list[int]:
        return [i for i, s in enumerate(self.slots) if s.ready and s.task is None]

    def submit(self, slot: int, task: Task) -> None:
        s = self.slots[slot]
        s.task = task
        try:
            s.conn.send(("run", task.number, task.params, task.prune, task.model_path))
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # it died between trials: poll() sees its sentinel and reports the trial lost

    def answer(self, slot: int, prune: bool) -> None:
        try:
            self.slots[slot].conn.send(("prune", prune))
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def worker(self, slot: int) -> str:
        return f"local-{slot} pid {self.slots[slot].pid}"

    def poll(self, timeout: float) -> list[Event]:
        waitables: list[Any] = [s.conn for s in self.slots] + [s.process.sentinel for s in self.slots]
        ready = set(wait(waitables, timeout))
        events: list[Event] = []
        for i, s in enumerate(self.slots):
            if s.conn in ready or s.process.sentinel in ready:
                events += self._drain(i, s)
        return events

    def _drain(self, i: int, s: _Slot) -> list[Event]:
        events: list[Event] = []
        try:
            while s.conn.poll():
                events += self._message(i, s, s.conn.recv())
        except (EOFError, OSError):
            pass
        if s.process.is_alive():
            return events
        s.process.join()
        code = s.process.exitcode
        if s.task is not None:
            events.append(Lost(i, s.task.number, f"worker {s.pid} died (exit code {code})"))
        s.conn.close()
        self.slots[i] = self._spawn()  # a fresh worker in the same slot; ready once it has imported
        return events

    def _message(self, i: int, s: _Slot, message: tuple[Any, ...]) -> list[Event]:
        kind = message[0]
        if kind == "ready":
            s.ready, s.pid = True, int(message[1])
            return []
        if kind == "import-error":
            raise ObjectiveImportError(str(message[1]))
        if kind == "report":
            return [Report(i, int(message[1]), int(message[2]), float(message[3]))]
        if kind == "done":
            s.task = None
            return [Finished(i, int(message[1]), message[2])]
        raise Unavailable(f"A worker sent an unknown message {kind!r}.")

    def stop(self) -> None:
        for s in self.slots:
            try:
                s.conn.send(("stop",))
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass

    def close(self) -> None:
        self.stop()
        deadline = time.monotonic() + 5
        for s in self.slots:
            s.process.join(max(0.0, deadline - time.monotonic()))
            if s.process.is_alive():  # a trial still running (timeout, Ctrl-C): stop it
                s.process.terminate()
                s.process.join(5)
            if s.process.is_alive():
                s.process.kill()
                s.process.join()
            s.conn.close()
        self.slots = []


@contextmanager
def _no_main_in_children() -> Iterator[None]:
    """Start a worker without multiprocessing re-running the driver's ``__main__`` in it.

    multiprocessing imports the parent's main script (or module) in every spawned or forkserver
    child so that functions pickled from it resolve there. A worker's target lives in this package
    and its objective is imported by name, so that re-run only costs time: under ``cnai tune`` the
    main script is the CLI, and importing it (typer, rich, every command) took about 0.5 s per
    worker. A user's script that starts a study also stops being run a second time in each worker.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {key: main.__dict__[key] for key in ("__file__", "__spec__") if key in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
