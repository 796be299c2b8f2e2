"""Adaptive batching: concurrent requests for one model are merged into one ``predict`` call.

The batcher wraps a predict function; the model never knows it is batched (MLServer attaches its
batcher the same way). One batch runs at a time per model, so requests that arrive while a batch
runs queue up and form the next one: under load batches grow on their own, and an idle model
answers a lone request at once. ``max_delay`` only holds a batch back while more requests for the
model have been *announced* (accepted, body still being read) than are queued, and never past
the first queued request's deadline, so a single client never waits for company that is not
coming. Time comes from an injected monotonic clock; ``dispatch_wait`` is the pure policy.

Predict itself runs in :class:`cnai.serving.predictor.Predictor`: off the event loop in the
model's own thread, under the model's deadline, with every output's row count checked before a
batch is split back into its requests. A model that fails on a merged batch gets its requests
retried one by one (one bad request must not fail its batch-mates), except when the failure is
the model's rather than an input's: a deadline passed, too many hung predicts, or a wrong row
count fail the whole batch at once, since retrying would only repeat them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnai.errors import Unavailable
from cnai.serving.predictor import BadModelOutput, Predictor, PredictTimeout
from cnai.serving.runtimes.base import ModelInput

__all__ = ["Batcher", "Predictor", "Unbatched", "dispatch_wait"]

log = logging.getLogger("cnai.serving")

Clock = Callable[[], float]
# Failures of the model itself, not of one request's input: retrying one by one would repeat them.
_BATCH_FATAL = (PredictTimeout, BadModelOutput, Unavailable)


def dispatch_wait(
    *, now: float, deadline: float, queued_rows: int, queued_items: int, announced: int, max_rows: int
) -> float:
    """Seconds to keep collecting before dispatching; 0 means dispatch now."""
    if queued_rows >= max_rows or announced <= queued_items:
        return 0.0
    return max(0.0, deadline - now)


@dataclass(slots=True)
class _Item:
    data: ModelInput
    rows: int
    outputs: tuple[str, ...]
    future: asyncio.Future[dict[str, np.ndarray]]
    enqueued: float


class Unbatched:
    """Batching off: each request is its own predict call, one group of calls at a time per model.

    Requests that arrive together (parsed in the same turn of the event loop) are handed to the
    model's thread together, as one job that runs their predicts one after the other
    (:meth:`Predictor.each`): separate calls, each with its own request's rows, so the model sees
    every request exactly as it would alone; only the thread hand-off, and the loop's wait for
    it, is shared. Under load that hand-off was the largest cost of a request to a fast model.
    A group holds as many requests as the model's recent speed fits into half the synchronous
    wait, one for a slow model (then this is the one-request-at-a-time queue it always was), and
    a request's deadline starts when its group does, not while it queues.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.announced = 0
        self._queue: collections.deque[_Item] = collections.deque()
        self._running = 0  # requests of the group being predicted
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def queue_depth(self) -> int:
        return len(self._queue) + self._running

    def announce(self) -> None:
        self.announced += 1

    def withdraw(self) -> None:
        self.announced -= 1

    async def submit(self, data: ModelInput, rows: int, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        self.announced -= 1
        if self._closing:
            raise RuntimeError("executor is closed")
        future: asyncio.Future[dict[str, np.ndarray]] = asyncio.get_running_loop().create_future()
        item = _Item(data, rows, outputs, future, 0.0)
        queue = self._queue
        queue.append(item)
        if len(queue) == 1 and not self._running:
            # Possibly a lone request: yield once so that requests parsed in this turn of the loop
            # can join; if none did, predict here, without the two extra turns of the loop that
            # going through the dispatcher task costs (at one client: about 4% more requests/s).
            await asyncio.sleep(0)
            if len(queue) == 1 and queue[0] is item and not self._running:
                queue.pop()
                return await self._predict_alone(item)
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        self._wakeup.set()  # the dispatcher runs after the requests already scheduled in this turn
        return await future

    async def _predict_alone(self, item: _Item) -> dict[str, np.ndarray]:
        self._running = 1
        try:
            ((ok, value),) = await self.predictor.each(((item.data, item.rows, item.outputs),))
        finally:
            self._running = 0
            if self._queue:  # arrived meanwhile (a slow predict): the dispatcher takes over
                if self._task is None:
                    self._task = asyncio.create_task(self._run())
                self._wakeup.set()
        if ok:
            result: dict[str, np.ndarray] = value
            return result
        raise value

    async def close(self) -> None:
        """Answer everything queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self.predictor.close()

    async def _run(self) -> None:
        queue, predictor = self._queue, self.predictor
        while True:
            if not queue or self._running:
                if self._closing and not queue:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            items = [queue.popleft() for _ in range(min(len(queue), predictor.group_limit()))]
            self._running = len(items)
            try:
                outcomes = await predictor.each([(i.data, i.rows, i.outputs) for i in items])
            except Exception as exc:  # the model refuses requests (too many hung predicts)
                outcomes = [(False, exc)] * len(items)
            finally:
                self._running = 0
            for item, (ok, value) in zip(items, outcomes, strict=True):
                if not item.future.done():  # not cancelled meanwhile
                    if ok:
                        item.future.set_result(value)
                    else:
                        item.future.set_exception(value)
            if queue:
                # More than one group's worth: let the loop answer these and read new requests
                # before the next group (a synchronous wait kept it from running meanwhile).
                await asyncio.sleep(0)


class Batcher:
    """A per-model queue merged into batches of at most ``max_batch_size`` rows."""

    def __init__(
        self,
        predictor: Predictor,
        *,
        max_batch_size: int,
        max_delay_s: float,
        clock: Clock = time.monotonic,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.predictor = predictor
        self.max_batch_size = max(1, max_batch_size)
        self.max_delay_s = max(0.0, max_delay_s)
        self.clock = clock
        self.on_batch = on_batch
        self.announced = 0
        self._queue: list[_Item] = []
        self._rows = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._busy = False  # a batch is being predicted (by the batcher task or a lone request)
        self._task: asyncio.Task[None] | None = None

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def announce(self) -> None:
        """A request for this model was accepted; its input will be submitted shortly."""
        self.announced += 1

    def withdraw(self) -> None:
        """An announced request failed before submitting (bad input)."""
        self.announced -= 1
        self._wakeup.set()

    async def submit(self, data: ModelInput, rows: int, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        self.announced -= 1
        if self._closing:
            raise RuntimeError("batcher is closed")
        future: asyncio.Future[dict[str, np.ndarray]] = asyncio.get_running_loop().create_future()
        item = _Item(data, rows, outputs, future, self.clock())
        alone = not self._queue and not self._busy and self.announced <= 0
        self._queue.append(item)
        self._rows += rows
        if alone:
            # Possibly a lone request: yield once so requests already parsed in this loop tick
            # can join; if none did, predict here and skip the batcher task's two hand-offs.
            await asyncio.sleep(0)
            if len(self._queue) == 1 and self._queue[0] is item and not self._busy:
                self._queue.pop()
                self._rows -= rows
                await self._predict_batch([item])
                return await future
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        self._wakeup.set()
        return await future

    def poke(self) -> None:
        """Re-evaluate the dispatch policy now (tests move a fake clock, then poke)."""
        self._wakeup.set()

    async def close(self) -> None:
        """Answer everything queued, then stop."""
        self._closing = True
        if self._queue and self._task is None:
            self._task = asyncio.create_task(self._run())
        self._wakeup.set()
        if self._task is not None:
            await self._task
        while self._busy:  # a lone request's predict (rare at close; never long)
            await asyncio.sleep(0.001)
        self.predictor.close()

    async def _run(self) -> None:
        while True:
            while not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            deadline = self._queue[0].enqueued + self.max_delay_s
            while not self._closing:
                wait = dispatch_wait(
                    now=self.clock(),
                    deadline=deadline,
                    queued_rows=self._rows,
                    queued_items=len(self._queue),
                    announced=self.announced + len(self._queue),
                    max_rows=self.max_batch_size,
                )
                if wait <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), wait)
                except TimeoutError:
                    pass
            batch = self._take()
            await self._predict_batch(batch)

    def _take(self) -> list[_Item]:
        batch: list[_Item] = []
        rows = 0
        while self._queue and (not batch or rows + self._queue[0].rows <= self.max_batch_size):
            item = self._queue.pop(0)
            batch.append(item)
            rows += item.rows
        self._rows -= rows
        return batch

    async def _predict_batch(self, batch: list[_Item]) -> None:
        self._busy = True
        try:
            await self._predict_groups(batch)
        finally:
            self._busy = False
            if self._queue:
                self._wakeup.set()
                if self._task is None:
                    self._task = asyncio.create_task(self._run())

    async def _predict_groups(self, batch: list[_Item]) -> None:
        groups: dict[tuple[Any, ...], list[_Item]] = {}
        for item in batch:
            groups.setdefault(_merge_key(item), []).append(item)
        for items in groups.values():
            if self.on_batch is not None:
                self.on_batch(sum(i.rows for i in items))
            if len(items) == 1:
                await self._predict_one(items[0])
                continue
            try:
                merged = _concat([i.data for i in items])
                result = await self.predictor(merged, sum(i.rows for i in items), items[0].outputs)
            except _BATCH_FATAL as exc:
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            except Exception:
                # One bad request must not fail its batch-mates: retry them one by one.
                for item in items:
                    await self._predict_one(item)
                continue
            start = 0
            for item in items:
                end = start + item.rows
                if not item.future.done():
                    item.future.set_result({k: v[start:end] for k, v in result.items()})
                start = end

    async def _predict_one(self, item: _Item) -> None:
        try:
            result = await self.predictor(item.data, item.rows, item.outputs)
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        if not item.future.done():
            item.future.set_result(result)


def _merge_key(item: _Item) -> tuple[Any, ...]:
    data = item.data
    if isinstance(data, np.ndarray):
        return (item.outputs, "array", data.dtype.str, data.shape[1:])
    return (item.outputs, "frame", tuple(getattr(data, "columns", ())))


def _concat(parts: list[ModelInput]) -> ModelInput:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)
