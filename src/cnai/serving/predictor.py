"""Runs one model's ``predict``: in the model's own thread, under a deadline, and checks what it returns.

A slow or wrong model must not freeze or corrupt the server:

- **Off the event loop.** Predict runs in the model's worker thread, so a model that blocks
  (sleeps, waits on a socket, deadlocks) leaves the loop free: health checks and other models keep
  answering. Running predict on the loop itself (``inline_below_s``) is an opt-in for tiny models
  and is unsafe for any model that can block, because nothing can interrupt a call on the loop.
- **A deadline.** A predict still running after ``timeout_s`` fails its requests with
  :class:`PredictTimeout` (504). A Python thread cannot be killed, so the hung thread is
  *abandoned*: it keeps running until predict returns, and the model gets a fresh worker thread,
  so later requests are not queued behind it. Abandoned threads are counted (``hung``); at
  ``max_hung`` the model refuses requests with :class:`cnai.errors.Unavailable` (503) and reports
  not ready, instead of piling up threads; it recovers by itself as the hung calls return, or on
  a reload.
- **Row counts.** Every output must have one row per input row. A model that drops or adds rows
  (after batching, one request's rows would then land in another's answer) fails the whole call
  with :class:`BadModelOutput` (500); no batch-mate ever gets another's or an empty answer.

Worker threads are daemon threads of our own rather than a ``ThreadPoolExecutor``: the executor's
threads are joined at interpreter exit, so one predict that never returns would stop the process
from exiting.

**The hand-off is cheap for fast models.** Awaiting the worker the usual asyncio way costs a
self-pipe wake-up of the loop and, worse, a fight for the GIL: the worker waits for the busy loop
to give up the GIL (up to the 5 ms switch interval) before predict can start. When the model's
recent predicts were fast (and so were those queued before this one), the loop instead *waits for
the worker synchronously* for at most ``sync_wait_s`` (2 ms): the loop blocks, so it holds no GIL,
the worker runs at once, and the result comes back with two thread switches. A call that takes
longer is then awaited as usual under its deadline. A model that starts to hang costs the loop at
most about ``sync_wait_s``: once the running call is older than that, no call waits synchronously.

**Several predicts, one hand-off.** :meth:`Predictor.each` hands a group of inputs to the thread
as one job that predicts them one after the other, each by itself (separate ``predict`` calls:
nothing is merged, the model sees each input exactly as it would alone), and the loop waits once
for all of them. With batching off the server groups the requests that arrived together (see
:class:`cnai.serving.batching.Unbatched`): the thread switches are paid once per group instead of
once per request. A group is only as large as the model's recent speed fits into half of
``sync_wait_s`` (one input for a model that is slow or not yet timed), so the loop never waits
longer than it would for one call, and a group shares one deadline: should it pass, the inputs
already predicted keep their results and the others fail with :class:`PredictTimeout`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnai.errors import CnaiError, Unavailable
from cnai.serving.runtimes.base import ModelInput

_TIME_EVERY = 4
_MAX_GROUP = 64  # inputs per hand-off at most, however fast the model
PredictFn = Callable[[ModelInput, tuple[str, ...]], dict[str, np.ndarray]]
# One input of a group: (data, rows, outputs wanted).
Input = tuple[ModelInput, int, tuple[str, ...]]
# One input's outcome: (True, outputs) or (False, the exception that fails that input alone).
Outcome = tuple[bool, Any]


class PredictTimeout(CnaiError):
    """A predict ran past the model's deadline (504)."""

    code = "DEADLINE_EXCEEDED"


class BadModelOutput(CnaiError):
    """The model returned something other than one row per input row (500)."""

    code = "INTERNAL_ERROR"


@dataclass
class _Timing:
    """Exponentially weighted predict time: decides whether the loop may wait for the worker (or, opt-in,
    run predict itself)."""

    ewma_s: float | None = None

    def record(self, seconds: float) -> None:
        self.ewma_s = seconds if self.ewma_s is None else 0.8 * self.ewma_s + 0.2 * seconds


class _Group:
    """Inputs predicted one after the other in one job on the model's thread.

    ``results`` grows as the thread goes (one outcome per input, in order); ``cancelled`` stops
    the thread before the next input once the group's deadline has passed.
    """

    __slots__ = ("cancelled", "inputs", "results")

    def __init__(self, inputs: Sequence[Input]) -> None:
        self.inputs = inputs
        self.results: list[Outcome] = []
        self.cancelled = False


class _Call:
    """One predict handed to a worker. The loop first waits for it on ``done`` (a lock the worker
    releases); if it gives up, it sets ``future`` and the worker settles that on the loop instead."""

    __slots__ = ("args", "done", "finished", "fn", "future", "loop", "mutex", "ok", "outcome")

    def __init__(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.loop, self.fn, self.args = loop, fn, args
        self.done = threading.Lock()
        self.done.acquire()  # released by the worker when the call ends
        self.mutex = threading.Lock()  # orders "the worker finished" against "the loop stopped waiting"
        self.finished = False
        self.future: asyncio.Future[Any] | None = None
        self.outcome: Any = None
        self.ok = False

    def result(self) -> Any:
        if self.ok:
            return self.outcome
        raise self.outcome


class _Worker:
    """One daemon thread running calls in order; results are handed back to the event loop."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self.abandoned = False
        self.pending = 0  # calls submitted and not yet ended
        self.running_since: float | None = None  # monotonic start of the call running now, set by the thread
        self.on_idle: Callable[[], None] | None = None  # called on the loop when a call ends, once abandoned
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def start(self, fn: Callable[..., Any], *args: Any) -> _Call:
        call = _Call(asyncio.get_running_loop(), fn, args)
        self.pending += 1
        self._jobs.put(call)
        return call

    def wait(self, call: _Call, seconds: float) -> bool:
        """Block the calling thread (the loop) up to ``seconds`` for ``call``; True when it ended."""
        if call.done.acquire(timeout=seconds):
            self._ended()
            return True
        with call.mutex:
            if call.finished:  # ended between the timeout and the mutex: done is (or will be) released
                self._ended()
                return True
            call.future = call.loop.create_future()
            return False

    def busy_for(self) -> float:
        """Seconds the call running now has run (0 when the thread is idle)."""
        since = self.running_since
        return 0.0 if since is None else time.monotonic() - since

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Start ``fn`` and return a future for it, without waiting on the loop."""
        call = self.start(fn, *args)
        with call.mutex:
            if not call.finished:
                call.future = call.loop.create_future()
                return call.future
        # Already ended (a very fast call): hand the result over as an already-settled future.
        self._ended()
        future: asyncio.Future[Any] = call.loop.create_future()
        self._settle_future(future, call.outcome, call.ok)
        return future

    def close(self) -> None:
        """Stop after the calls already queued (a running call is never interrupted)."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (call := self._jobs.get()) is not None:
            self.running_since = time.monotonic()
            try:
                outcome, ok = call.fn(*call.args), True
            except BaseException as exc:  # handed to the awaiting request, whatever it is
                outcome, ok = exc, False
            self.running_since = None
            with call.mutex:
                call.outcome, call.ok, call.finished = outcome, ok, True
                future = call.future
            if future is None:  # the loop is waiting synchronously, or will find it finished
                call.done.release()
                continue
            try:
                call.loop.call_soon_threadsafe(self._settle, future, outcome, ok)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def _ended(self) -> None:
        self.pending -= 1
        if self.abandoned and self.on_idle is not None:
            on_idle, self.on_idle = self.on_idle, None
            on_idle()

    @staticmethod
    def _settle_future(future: asyncio.Future[Any], outcome: Any, ok: bool) -> None:
        if not future.done():  # not cancelled by a deadline
            if ok:
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def _settle(self, future: asyncio.Future[Any], outcome: Any, ok: bool) -> None:
        self._settle_future(future, outcome, ok)
        self._ended()


class Predictor:
    """Runs predict for one model: one call at a time, in the model's thread, under a deadline."""

    def __init__(
        self,
        predict_fn: PredictFn,
        *,
        model: str = "model",
        timeout_s: float = 30.0,
        max_hung: int = 4,
        inline_below_s: float = 0.0,
        sync_wait_s: float = 0.002,
        on_timeout: Callable[[], None] | None = None,
        on_hung: Callable[[int], None] | None = None,
    ) -> None:
        self.predict_fn = predict_fn
        self.model = model
        self.timeout_s = timeout_s
        self.max_hung = max(1, max_hung)
        self.inline_below_s = inline_below_s
        self.sync_wait_s = sync_wait_s
        self.on_timeout = on_timeout
        self.on_hung = on_hung
        self.timing = _Timing()
        self.hung = 0
        self.sync_waits = 0  # calls the loop waited for synchronously (fast path), for tests and profiling
        self.handoffs = 0  # jobs handed to the model's thread (one per group of predicts), likewise
        self._calls = 0
        self._worker = _Worker(f"cnai-predict-{model}")

    @property
    def exhausted(self) -> bool:
        """Too many abandoned predicts still running: the model takes no requests until they return."""
        return self.hung >= self.max_hung

    async def __call__(self, data: ModelInput, rows: int, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        """One predict (a merged batch, or one request): its outputs, or its error raised."""
        ((ok, value),) = await self.each(((data, rows, outputs),))
        if ok:
            result: dict[str, np.ndarray] = value
            return result
        raise value

    def group_limit(self) -> int:
        """How many inputs one hand-off may carry: as many as the model's recent predict time fits
        into half of ``sync_wait_s`` (the other half is slack for a slower call), at least one."""
        ewma = self.timing.ewma_s
        if not self.sync_wait_s or ewma is None:
            return 1
        return max(1, min(_MAX_GROUP, int(self.sync_wait_s / 2 / max(ewma, 1e-7))))

    async def each(self, inputs: Sequence[Input]) -> list[Outcome]:
        """Predict every input by itself, one after the other, with one hand-off to the model's thread.

        One outcome per input, in order: ``(True, outputs)``, or ``(False, error)`` for an input
        whose predict raised or returned the wrong row count (that input alone fails), or whose
        group ran past the deadline before or while it ran (:class:`PredictTimeout`). Raises
        :class:`cnai.errors.Unavailable` when too many predicts are hung.
        """
        if self.exhausted:
            raise Unavailable(
                f"Model {self.model!r} is not ready: {self.hung} predicts hung past the "
                f"{self.timeout_s:g}s timeout and are still running; reload the model or restart the server"
            )
        group = _Group(inputs)
        ewma = self.timing.ewma_s
        timeout: PredictTimeout | None = None
        if self.inline_below_s and ewma is not None and ewma < self.inline_below_s:
            self._run_group(group)  # opt-in: on the loop, no deadline possible
        else:
            timeout = await self._in_thread(group)
        results, model = group.results, self.model
        out: list[Outcome] = []
        for i, (_, rows, outputs) in enumerate(inputs):
            if i >= len(results):  # the deadline passed before this input's predict ended
                out.append((False, timeout))
                continue
            ok, value = results[i]
            if ok:
                try:
                    check_rows(model, value, rows, outputs)
                except BadModelOutput as exc:
                    ok, value = False, exc
            out.append((ok, value))
        return out

    async def _in_thread(self, group: _Group) -> PredictTimeout | None:
        """Run ``group`` on the model's thread; the timeout error when its deadline passed (then
        ``group.results`` holds what ended in time), else None."""
        worker = self._worker
        ewma = self.timing.ewma_s
        deadline_s = self.timeout_s
        self.handoffs += 1
        if self._may_wait_synchronously(worker, ewma, len(group.inputs)):
            call = worker.start(self._run_group, group)
            self.sync_waits += 1
            if worker.wait(call, self.sync_wait_s):
                call.result()  # re-raises what escaped the group (BaseException only)
                return None
            assert call.future is not None  # wait() set it when it gave up
            future, deadline_s = call.future, self.timeout_s - self.sync_wait_s
        else:
            future = worker.submit(self._run_group, group)
        try:
            async with asyncio.timeout(deadline_s):
                await future
                return None
        except TimeoutError:
            if not future.cancelled():  # raised by the job itself, not our deadline
                raise
        group.cancelled = True  # the thread stops before the next input
        # What ended in time, as a new list: the abandoned thread may still append to the old one.
        group.results = group.results[:]
        self._abandon(worker)
        return PredictTimeout(f"predict of model {self.model!r} timed out after {self.timeout_s:g}s")

    def _run_group(self, group: _Group) -> _Group:
        """On the model's thread: each input's predict, one after the other."""
        results = group.results
        for data, _, outputs in group.inputs:
            if group.cancelled:
                break
            try:
                results.append((True, self._timed(data, outputs)))
            except Exception as exc:  # fails this input alone
                results.append((False, exc))
        return group

    def _may_wait_synchronously(self, worker: _Worker, ewma: float | None, n: int) -> bool:
        """Whether ``n`` predicts are expected to end within ``sync_wait_s``: the model is fast, the
        calls queued before them fit in the budget too, and the call running now is not already
        late (a model that starts to hang stops the synchronous waits within one ``sync_wait_s``)."""
        budget = self.sync_wait_s
        return bool(budget) and ewma is not None and (worker.pending + n) * ewma < budget and worker.busy_for() < budget

    def _abandon(self, worker: _Worker) -> None:
        """Leave the hung thread to finish on its own; later calls get a fresh thread."""
        if worker is not self._worker:  # already replaced (several calls cannot share one worker)
            return
        worker.abandoned = True
        worker.on_idle = self._hung_returned
        worker.close()
        self._worker = _Worker(f"cnai-predict-{self.model}")
        self.hung += 1
        if self.on_timeout is not None:
            self.on_timeout()
        if self.on_hung is not None:
            self.on_hung(self.hung)

    def _hung_returned(self) -> None:
        self.hung -= 1
        if self.on_hung is not None:
            self.on_hung(self.hung)

    def _timed(self, data: ModelInput, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        # One call in _TIME_EVERY is timed: the average moves slowly anyway. Wall time, not this
        # thread's CPU time: a predict that blocks (sleeps, waits on I/O) must look slow.
        self._calls += 1
        if self.timing.ewma_s is not None and self._calls % _TIME_EVERY:
            return self.predict_fn(data, outputs)
        start = time.perf_counter()
        try:
            return self.predict_fn(data, outputs)
        finally:
            self.timing.record(time.perf_counter() - start)

    def close(self) -> None:
        self._worker.close()


def check_rows(model: str, result: dict[str, np.ndarray], rows: int, outputs: tuple[str, ...]) -> None:
    """Every output asked for must be there with exactly ``rows`` rows; BadModelOutput otherwise."""
    for name in outputs:
        arr = result.get(name)
        if arr is None:
            raise BadModelOutput(f"predict of model {model!r} returned no output {name!r}")
        got = arr.shape[0] if getattr(arr, "ndim", 0) else None
        if got != rows:
            shape = "a scalar" if got is None else f"{got} rows"
            raise BadModelOutput(f"predict of model {model!r} returned {shape} of {name!r} for {rows} input rows")
