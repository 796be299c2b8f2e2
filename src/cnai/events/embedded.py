"""The embedded event log: Kafka's semantics in one SQLite file, for ``cnai up`` and tests.

Every SQLite call runs on the bus's single worker thread, so the event loop never blocks on disk
or on another process's write lock, and the bus's one connection is never used by two threads.

Consumer groups have no coordinator process. Each member keeps a lease in the ``members`` table
(renewed by its polls and commits) and computes the group's assignment itself from the live
members (``cnai.events.assignment``), re-evaluated on every poll. A member whose lease ran out
(its process died, or it stopped polling for longer than ``lease_ms``, like Kafka's
``max.poll.interval.ms``) loses its partitions to the others. For the moment between one member
joining and another noticing, two members may read the same partition: records may then be
delivered twice, never lost, because only the owner at commit time may commit (see
``SqliteLog.commit``).

Retention (``cnai.events.retention``) runs as a background task of the bus: by age and by size,
whether or not the records were consumed, and a consumer whose position fell below the log start
continues from the earliest record left, with a warning and ``retention_stats.records_skipped``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, ParamSpec, TypeVar

from cnai._clock import now_ms
from cnai.errors import InvalidArgument, InvalidState, Unavailable
from cnai.events.assignment import TopicPartition
from cnai.events.base import (
    Bus,
    Consumer,
    Record,
    check_group,
    check_headers,
    check_partitions,
    check_poll_args,
    check_topic,
    check_topics,
    check_value,
)
from cnai.events.partitioner import Partitioner
from cnai.events.retention import (
    BATCH_ROWS,
    DEFAULT_CHECK_INTERVAL_MS,
    DEFAULT_RETENTION_BYTES,
    DEFAULT_RETENTION_MS,
    VACUUM_PAGES,
    RetentionPolicy,
    RetentionStats,
)
from cnai.events.sqlite_log import Entry, SqliteLog

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_LEASE_MS = 10_000
DEFAULT_POLL_INTERVAL_MS = 50


class EmbeddedBus(Bus):
    """A ``Bus`` over one SQLite file that several processes may share.

    ``lease_ms``: how long a silent consumer keeps its partitions. ``poll_interval_ms``: how often
    an idle consumer looks for records written by *other* processes (records produced through this
    bus wake its consumers at once). ``clock``: milliseconds since the epoch, for record timestamps
    and leases; tests pass a fake one to expire leases without sleeping. ``default_partitions``:
    partitions of a topic created by its first ``produce``, as Kafka's auto-creation does.
    ``retention_ms`` / ``retention_bytes``: records older than this, and the oldest records past
    this file size, are deleted (-1: no bound); ``retention_check_ms``: how often that is checked.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lease_ms: int = DEFAULT_LEASE_MS,
        poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS,
        default_partitions: int = 3,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        retention_ms: int = DEFAULT_RETENTION_MS,
        retention_bytes: int = DEFAULT_RETENTION_BYTES,
        retention_check_ms: int = DEFAULT_CHECK_INTERVAL_MS,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if lease_ms < 1 or poll_interval_ms < 1:
            raise InvalidArgument("lease_ms and poll_interval_ms must be positive")
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidArgument(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path).expanduser()
        self.lease_ms = lease_ms
        self.poll_interval_s = poll_interval_ms / 1000
        self.default_partitions = check_partitions(default_partitions)
        self.clock = clock
        self.retention = RetentionPolicy(retention_ms, retention_bytes, retention_check_ms)
        self.retention_stats = RetentionStats()
        self._synchronous = synchronous
        self._partitioner = Partitioner()
        self._log: SqliteLog | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._wakeup = asyncio.Event()
        self._consumers: set[EmbeddedConsumer] = set()  # closed with the bus unless closed before
        self._queue: list[tuple[str, list[Entry], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._retention_due = asyncio.Event()
        self._appended_bytes = 0  # since the last early retention check
        self._closing = False

    async def start(self) -> None:
        if self._log is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnai-events")
        try:
            self._log = await self._run(SqliteLog, self.path, synchronous=self._synchronous)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self._closing = False
        self._retention_due.set()  # a first pass soon after start: the file may have aged while closed
        self._retention_task = asyncio.create_task(self._retention_loop())

    async def close(self) -> None:
        if self._log is None or self._executor is None:
            return
        if self._retention_task is not None:
            # A flag rather than cancel(): Python 3.11's wait_for can swallow a cancellation that
            # races with its event, and the loop would then never end. A running trim stops
            # after its current step.
            self._closing = True
            self._retention_due.set()
            await self._retention_task
            self._retention_task = None
        for consumer in list(self._consumers):
            await consumer.close()
        if self._flusher is not None:
            await self._flusher  # let queued records reach the file
        log, executor = self._log, self._executor
        await self._run(log.close)
        self._log = self._executor = None
        executor.shutdown(wait=False)  # its queue is empty: the thread exits on its own

    async def create_topic(self, topic: str, partitions: int = 3) -> None:
        check_topic(topic)
        check_partitions(partitions)
        await self._run(self.log.create_topic, topic, partitions)

    async def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        check_topic(topic)
        check_value(value, key)
        await self._append(topic, [(_bytes(key), bytes(value), check_headers(headers))])

    async def produce_many(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        check_topic(topic)
        entries: list[Entry] = []
        for item in items:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise InvalidArgument(f"produce_many takes (key, value) pairs, got {item!r}")
            key, value = item
            check_value(value, key)
            entries.append((_bytes(key), bytes(value), ()))
        if entries:
            await self._append(topic, entries)

    def consumer(self, topics: Sequence[str], group: str, *, from_beginning: bool = True) -> EmbeddedConsumer:
        consumer = EmbeddedConsumer(self, check_topics(topics), check_group(group), from_beginning)
        self._consumers.add(consumer)
        return consumer

    async def enforce_retention(self) -> tuple[int, int]:
        """Apply the retention policy now, to completion: (records deleted, pages freed).

        Step by step, each step its own short transaction on the worker thread, so appends
        queued meanwhile go in between steps rather than after the whole trim.
        """
        policy, stats = self.retention, self.retention_stats
        deleted = freed = 0
        while not self._closing:
            step_deleted, step_freed = await self._run(
                self.log.retention_step,
                cutoff_ms=policy.cutoff_ms(self.clock()),
                max_bytes=policy.max_bytes,
                slack_bytes=policy.slack_bytes,
                batch_rows=BATCH_ROWS,
                vacuum_pages=VACUUM_PAGES,
            )
            if not step_deleted and not step_freed:
                break
            deleted += step_deleted
            freed += step_freed
            stats.records_deleted += step_deleted
            stats.pages_freed += step_freed
        if deleted:
            logger.info("event log %s: retention deleted %d record(s), freed %d page(s)", self.path, deleted, freed)
        return deleted, freed

    async def _retention_loop(self) -> None:
        """Check every interval, or early once this process appended enough; never raise."""
        while True:
            try:
                await asyncio.wait_for(self._retention_due.wait(), self.retention.check_interval_ms / 1000)
            except TimeoutError:
                pass
            self._retention_due.clear()
            if self._closing:
                return
            try:
                await self.enforce_retention()
            except Exception as exc:  # e.g. the file is locked past the busy timeout: try next time
                logger.warning("event log %s: retention pass failed: %s", self.path, exc)

    def _count_appended(self, nbytes: int) -> None:
        threshold = self.retention.early_check_bytes
        if threshold is None:
            return
        self._appended_bytes += nbytes
        if self._appended_bytes >= threshold:
            self._appended_bytes = 0
            self._retention_due.set()

    @property
    def log(self) -> SqliteLog:
        if self._log is None:
            raise InvalidState("The event bus is not started: call start() first")
        return self._log

    async def _append(self, topic: str, entries: list[Entry]) -> None:
        """Store ``entries``; returns once they are committed.

        Group commit: calls that arrive while a write is running are queued and written together
        in the next transaction, so many concurrent ``produce()`` calls (one per request in a
        model server) cost one transaction per round instead of one each. Each call's entries
        stay contiguous and in order; whether they share a transaction with others is invisible.
        """
        done = asyncio.get_running_loop().create_future()
        self._queue.append((topic, entries, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._run(
                    self.log.append,
                    [(topic, entries) for topic, entries, _ in batch],
                    self._partitioner,
                    self.clock(),
                    self.default_partitions,
                )
            except Exception as exc:  # every caller in the failed transaction gets the error
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)
            self._count_appended(sum(len(value) for _, entries, _ in batch for _, value, _ in entries))
            # Wake this process's consumers now; other processes' find the records on their next poll.
            self._wakeup.set()
            self._wakeup = asyncio.Event()

    def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]:
        if self._executor is None:
            raise InvalidState("The event bus is not started: call start() first")
        return _translate_errors(
            asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        )


async def _translate_errors(future: Awaitable[T]) -> T:
    try:
        return await future
    except sqlite3.OperationalError as exc:  # e.g. "database is locked" past the busy timeout
        raise Unavailable(f"Event log unavailable: {exc}") from exc


class EmbeddedConsumer(Consumer):
    """A member of a consumer group in the embedded log."""

    def __init__(self, bus: EmbeddedBus, topics: tuple[str, ...], group: str, from_beginning: bool) -> None:
        self._bus = bus
        self._state = _Member(group, f"{uuid.uuid4().hex}", topics, from_beginning, bus.retention_stats)
        self._started = False

    @property
    def member_id(self) -> str:
        return self._state.member_id

    async def start(self) -> None:
        if not self._started:
            await self._bus._run(self._state.heartbeat, self._bus.log, self._bus.clock(), self._bus.lease_ms)
            self._started = True

    async def close(self) -> None:
        self._bus._consumers.discard(self)
        if not self._started:
            return
        self._started = False
        if self._bus._log is not None:  # leave at once rather than wait for the lease to run out
            await self._bus._run(self._bus.log.leave, self._state.group, self._state.member_id)

    async def poll(self, max_records: int = 500, timeout_ms: int = 1000) -> list[Record]:
        check_poll_args(max_records, timeout_ms)
        self._check_started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        bus = self._bus
        while True:
            wakeup = bus._wakeup  # taken before reading, so a produce meanwhile is not missed
            records = await bus._run(self._state.poll, bus.log, bus.clock(), bus.lease_ms, max_records)
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            try:
                await asyncio.wait_for(wakeup.wait(), min(remaining, bus.poll_interval_s))
            except TimeoutError:
                pass

    async def commit(self) -> None:
        self._check_started()
        await self._bus._run(self._state.commit, self._bus.log, self._bus.clock(), self._bus.lease_ms)

    def assignment(self) -> frozenset[tuple[str, int]]:
        return self._state.owned

    def _check_started(self) -> None:
        if not self._started:
            raise InvalidState("The consumer is not started: call start() first")


class _Member:
    """A consumer's group state. Touched only on the bus's worker thread."""

    def __init__(
        self, group: str, member_id: str, topics: tuple[str, ...], from_beginning: bool, stats: RetentionStats
    ) -> None:
        self.group = group
        self.stats = stats
        self.member_id = member_id
        self.topics = topics
        self.from_beginning = from_beginning
        self.positions: dict[TopicPartition, int] = {}  # next offset to read, per owned partition
        self.consumed: dict[TopicPartition, int] = {}  # next offset after what poll returned, uncommitted
        self.owned: frozenset[TopicPartition] = frozenset()  # replaced whole: read from the loop thread
        self.last_heartbeat_ms: int | None = None
        self.rotation = 0  # start each poll at a different partition, so none starves

    def heartbeat(self, log: SqliteLog, now: int, lease_ms: int) -> None:
        log.heartbeat(self.group, self.member_id, self.topics, now, lease_ms)
        self.last_heartbeat_ms = now

    def poll(self, log: SqliteLog, now: int, lease_ms: int, max_records: int) -> list[Record]:
        # Renew the lease a few times per lease period; reading the assignment needs no write.
        if self.last_heartbeat_ms is None or now - self.last_heartbeat_ms >= lease_ms // 3:
            self.heartbeat(log, now, lease_ms)
        owned = log.assignment(self.group, self.member_id, now)
        if owned is None:  # our lease ran out and another member removed us: join again
            self.heartbeat(log, now, lease_ms)
            owned = log.assignment(self.group, self.member_id, now) or []
        self._rebalance(log, owned)
        self.owned = frozenset(owned)
        return self._fetch(log, owned, max_records)

    def _rebalance(self, log: SqliteLog, owned: list[TopicPartition]) -> None:
        owned_set = set(owned)
        for tp in [tp for tp in self.positions if tp not in owned_set]:
            # Lost: forget the position and what was read but not committed; the new owner
            # starts from the committed offset and delivers those records again.
            del self.positions[tp]
            self.consumed.pop(tp, None)
        for tp in owned:
            if tp not in self.positions:
                committed = log.committed(self.group, *tp)
                start, end = log.bounds(*tp)
                if committed is not None:
                    if committed < start:
                        self._skipped(tp, committed, start)
                    self.positions[tp] = max(committed, start)
                else:
                    self.positions[tp] = start if self.from_beginning else end

    def _fetch(self, log: SqliteLog, owned: list[TopicPartition], max_records: int) -> list[Record]:
        records: list[Record] = []
        if not owned:
            return records
        self.rotation = (self.rotation + 1) % len(owned)
        for tp in owned[self.rotation :] + owned[: self.rotation]:
            batch = log.fetch(*tp, self.positions[tp], max_records - len(records))
            if batch and batch[0].offset > self.positions[tp]:
                # Offsets are dense: a gap means retention deleted records under our position.
                self._skipped(tp, self.positions[tp], batch[0].offset)
            if batch:
                self.positions[tp] = self.consumed[tp] = batch[-1].offset + 1
                records.extend(batch)
                if len(records) >= max_records:
                    break
        return records

    def _skipped(self, tp: TopicPartition, position: int, log_start: int) -> None:
        self.stats.records_skipped += log_start - position
        logger.warning(
            "group %s: %s[%d] offsets %d..%d were deleted by retention before this group read them; "
            "continuing from offset %d",
            self.group,
            tp[0],
            tp[1],
            position,
            log_start - 1,
            log_start,
        )

    def commit(self, log: SqliteLog, now: int, lease_ms: int) -> None:
        if not self.consumed:
            return
        offsets = dict(self.consumed)
        done = log.commit(self.group, self.member_id, offsets, now, lease_ms)
        self.last_heartbeat_ms = now if done else self.last_heartbeat_ms
        for tp in offsets:
            self.consumed.pop(tp, None)
            if tp not in done:
                # No longer ours: re-read from the committed offset should it come back to us.
                self.positions.pop(tp, None)
        self.owned = self.owned & frozenset(self.positions)
        if len(done) < len(offsets):
            logger.info(
                "group %s: %d partition(s) changed owner before commit; their records will be redelivered",
                self.group,
                len(offsets) - len(done),
            )


def _bytes(key: bytes | None) -> bytes | None:
    return None if key is None else bytes(key)
