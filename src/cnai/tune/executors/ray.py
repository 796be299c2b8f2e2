"""The Ray executor: the local executor's model over Ray actors, the scale-out path.

One actor per worker, created once and reused for every trial (its objective imported once), on
the cluster at ``address`` or on a local Ray started for the study (and stopped after it). An
actor that dies is replaced and its trial reported lost, as a local worker's would be.

Pruning needs an answer per reported step. Actors post their reports to one small async
``Mailbox`` actor and wait there for the driver's answer; the driver keeps one ``wait_reports``
call outstanding on the mailbox, so a report reaches it as soon as it is posted. Without pruning
the steps travel with the trial's outcome and the mailbox is not used.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from cnai.errors import InvalidArgument, Unavailable
from cnai.tune.executors.base import Event, Executor, Finished, Lost, Report, Task
from cnai.tune.objective import ObjectiveImportError

ray: Any
try:
    import ray
except ImportError:  # pragma: no cover - the extra is not installed
    ray = None


class _TrialActor:
    def __init__(self, spec: str, slot: int, mailbox: Any) -> None:
        self.spec, self.slot, self.mailbox = spec, slot, mailbox
        self.objective: Any = None

    def ready(self) -> tuple[str, str]:
        from cnai.tune.objective import load_objective

        try:
            self.objective = load_objective(self.spec)
        except ObjectiveImportError as exc:
            return "import-error", exc.message
        return "ready", f"pid {os.getpid()} on {socket.gethostname()}"

    def run(self, task: Task) -> Any:
        from cnai.tune.trial_runner import run_trial

        def sink(step: int, value: float) -> bool:
            if not task.prune:
                return False
            return bool(ray.get(self.mailbox.post.remote(self.slot, task.number, step, value)))

        return run_trial(self.objective, task.params, sink, task.model_path)


class _Mailbox:
    """Reports waiting for the driver's prune-or-not, one per slot at most (a slot runs one trial)."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, int, int, float]] = []
        self.answers: dict[int, asyncio.Future[bool]] = {}
        self.arrived = asyncio.Event()

    async def post(self, slot: int, number: int, step: int, value: float) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.answers[slot] = future
        self.reports.append((slot, number, step, value))
        self.arrived.set()
        return await future

    async def wait_reports(self, timeout: float) -> list[tuple[int, int, int, float]]:
        if not self.reports:
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except TimeoutError:
                pass
        taken, self.reports = self.reports, []
        self.arrived.clear()
        return taken

    async def answer(self, slot: int, prune: bool) -> None:
        future = self.answers.pop(slot, None)
        if future is not None and not future.done():
            future.set_result(prune)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, **_: Any) -> None:
        if ray is None:
            raise InvalidArgument("The ray executor needs Ray: pip install 'cnai[ray]'.")
        self.address = address
        self.started_ray = False
        self.spec = ""
        self.actors: list[Any] = []
        self.names: list[str] = []
        self.ready_slots: set[int] = set()
        self.pending_ready: dict[Any, int] = {}
        self.running: dict[Any, tuple[int, Task]] = {}
        self.mailbox: Any = None
        self.mail_ref: Any = None

    def start(self, objective: str, workers: int) -> None:
        if not ray.is_initialized():
            try:
                if self.address:
                    ray.init(address=self.address, log_to_driver=False)
                else:  # a private local Ray sized to the study, stopped when the study ends
                    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local Ray"
                raise Unavailable(f"Cannot start or reach {where}: {str(exc).splitlines()[0]}") from exc
            self.started_ray = True
        self.spec = objective
        self.mailbox = ray.remote(num_cpus=0)(_Mailbox).remote()
        self.actor_class = ray.remote(num_cpus=1, max_restarts=0)(_TrialActor)
        self.actors = [None] * workers
        self.names = [""] * workers
        for slot in range(workers):
            self._spawn(slot)
        while self.pending_ready:
            self._collect_ready(ray.wait(list(self.pending_ready), num_returns=1, timeout=120)[0])

    def _spawn(self, slot: int) -> None:
        actor: Any = self.actor_class.remote(self.spec, slot, self.mailbox)
        self.actors[slot] = actor
        self.pending_ready[actor.ready.remote()] = slot

    def _collect_ready(self, refs: list[Any]) -> None:
        if not refs:
            raise Unavailable("The Ray actors did not start within 120 s.")
        for ref in refs:
            slot = self.pending_ready.pop(ref)
            kind, detail = ray.get(ref)
            if kind == "import-error":
                raise ObjectiveImportError(detail)
            self.names[slot] = f"ray-{slot} {detail}"
            self.ready_slots.add(slot)

    def idle(self) -> list[int]:
        busy = {slot for slot, _ in self.running.values()}
        return sorted(self.ready_slots - busy)

    def submit(self, slot: int, task: Task) -> None:
        self.running[self.actors[slot].run.remote(task)] = (slot, task)

    def answer(self, slot: int, prune: bool) -> None:
        self.mailbox.answer.remote(slot, prune)

    def worker(self, slot: int) -> str:
        return self.names[slot]

    def poll(self, timeout: float) -> list[Event]:
        refs = list(self.running) + list(self.pending_ready)
        if any(task.prune for _, task in self.running.values()):
            if self.mail_ref is None:
                self.mail_ref = self.mailbox.wait_reports.remote(timeout)
            refs.append(self.mail_ref)
        if not refs:
            return []
        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if done:  # and whatever else is already done, without waiting again
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        events: list[Event] = []
        for ref in done:
            if ref is self.mail_ref:
                self.mail_ref = None
                events += [Report(*report) for report in ray.get(ref)]
            elif ref in self.pending_ready:
                self._collect_ready([ref])
            else:
                events.append(self._result(ref))
        return events

    def _result(self, ref: Any) -> Event:
        slot, task = self.running.pop(ref)
        try:
            return Finished(slot, task.number, ray.get(ref))
        except ray.exceptions.RayActorError as exc:
            self.ready_slots.discard(slot)
            self._spawn(slot)
            return Lost(slot, task.number, f"Ray actor {self.names[slot]} died: {str(exc).splitlines()[0][:200]}")

    def close(self) -> None:
        if ray is None or not ray.is_initialized():
            return
        for actor in [*self.actors, self.mailbox]:
            if actor is not None:
                ray.kill(actor)
        self.actors = []
        if self.started_ray:
            ray.shutdown()
