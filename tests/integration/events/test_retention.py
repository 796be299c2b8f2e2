"""Retention of the embedded log: by age and by size, whether or not a group read the records.

The clock is injected, so age-based trims need no sleeping; passes are run with
``enforce_retention()`` (the background task does the same, on a timer).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from cnai.errors import InvalidArgument
from cnai.events import bus_from_url
from cnai.events.embedded import EmbeddedBus
from cnai.events.retention import DEFAULT_RETENTION_BYTES, DEFAULT_RETENTION_MS
from tests.integration.events.conftest import drain

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
NEVER = 10**9  # a check interval the test never reaches: passes run when the test says


class FakeClock:
    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now


def _offsets(path: Path, topic: str) -> dict[int, list[int]]:
    """Every stored offset per partition, read straight from the file."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT r.partition, r.offset FROM records r JOIN topics t ON t.id = r.topic_id "
            "WHERE t.name = ? ORDER BY r.partition, r.offset",
            (topic,),
        ).fetchall()
    result: dict[int, list[int]] = {}
    for partition, offset in rows:
        result.setdefault(partition, []).append(offset)
    return result


def _file_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # pages in the WAL reach the file
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert os.path.getsize(path) == page_size * pages
    return int(page_size * pages)


def test_defaults_are_seven_days_and_one_gib_and_the_url_sets_both(tmp_path: Path) -> None:
    bus = bus_from_url(f"sqlite:///{tmp_path}/e.db")
    assert isinstance(bus, EmbeddedBus)
    assert (bus.retention.retention_ms, bus.retention.retention_bytes) == (7 * DAY_MS, 1024**3)
    assert (DEFAULT_RETENTION_MS, DEFAULT_RETENTION_BYTES) == (7 * DAY_MS, 1073741824)
    tuned = bus_from_url(f"sqlite:///{tmp_path}/e.db?retention_hours=1.5&retention_bytes=1048576")
    assert isinstance(tuned, EmbeddedBus)
    assert (tuned.retention.retention_ms, tuned.retention.retention_bytes) == (90 * 60_000, 1048576)
    off = bus_from_url(f"sqlite:///{tmp_path}/e.db?retention_hours=-1&retention_bytes=-1")
    assert isinstance(off, EmbeddedBus)
    assert (off.retention.max_bytes, off.retention.cutoff_ms(0)) == (None, None)


@pytest.mark.parametrize(
    "query",
    ["retention_hours=0", "retention_hours=-2", "retention_hours=nan", "retention_bytes=10", "retention_check_ms=0"],
)
def test_nonsense_retention_is_refused(tmp_path: Path, query: str) -> None:
    with pytest.raises(InvalidArgument):
        bus_from_url(f"sqlite:///{tmp_path}/e.db?{query}")


async def test_records_older_than_retention_are_deleted_read_or_not(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "events.db"
    async with EmbeddedBus(path, clock=clock, retention_ms=7 * DAY_MS, retention_check_ms=NEVER) as bus:
        await bus.create_topic("t", partitions=2)
        await bus.produce_many("t", [(f"k{i}".encode(), f"old-{i}".encode()) for i in range(40)])
        clock.now += 6 * DAY_MS
        await bus.produce_many("t", [(f"k{i}".encode(), f"mid-{i}".encode()) for i in range(10)])
        assert await bus.enforce_retention() == (0, 0)  # nothing is 7 days old yet

        clock.now += DAY_MS + 1  # the first batch is now just over 7 days old, the second 1 day
        deleted, _ = await bus.enforce_retention()
        assert deleted == 40
        consumer = bus.consumer(["t"], "never-read-before")
        await consumer.start()
        left = await drain(consumer, 10)
        assert sorted(r.value for r in left) == sorted(f"mid-{i}".encode() for i in range(10))
        assert await consumer.poll(timeout_ms=50) == []
        # Offsets are never reused: the next record continues after the deleted ones.
        before = {p: bus.log.bounds("t", p)[1] for p in range(2)}
        assert sum(before.values()) == 50
        await bus.produce("t", b"new", key=b"k0")
        after = _offsets(path, "t")
        new_offsets = [(p, o) for p, offsets in after.items() for o in offsets if o >= before[p]]
        assert len(new_offsets) == 1
        assert new_offsets[0][1] == before[new_offsets[0][0]]
        for offsets in after.values():  # what is left of each partition is one dense run
            assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


async def test_a_trim_of_everything_keeps_offsets_monotonic(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "events.db"
    async with EmbeddedBus(path, clock=clock, retention_ms=HOUR_MS, retention_check_ms=NEVER) as bus:
        await bus.create_topic("t", partitions=1)
        await bus.produce_many("t", [(None, b"x") for _ in range(25)])
        clock.now += 2 * HOUR_MS
        await bus.enforce_retention()
        assert _offsets(path, "t") == {}
        assert bus.log.bounds("t", 0) == (25, 25)
    async with EmbeddedBus(path, clock=clock, retention_ms=HOUR_MS, retention_check_ms=NEVER) as reopened:
        await reopened.produce("t", b"y")
        assert _offsets(path, "t") == {0: [25]}


async def test_size_bound_keeps_the_newest_records_and_the_file_under_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    bound = 1024 * 1024
    value = os.urandom(900)
    async with EmbeddedBus(path, retention_bytes=bound, retention_check_ms=NEVER) as bus:
        await bus.create_topic("t", partitions=3)
        produced = 0
        for _ in range(10):  # ~4.5 MB in all, four and a half times the bound
            await bus.produce_many("t", [(f"k{produced + i}".encode(), value) for i in range(500)])
            produced += 500
            await bus.enforce_retention()
            assert _file_bytes(path) <= bound
        await bus.produce("t", b"the newest", key=b"k0")
        await bus.enforce_retention()
        assert _file_bytes(path) <= bound
        kept = _offsets(path, "t")
        total_kept = sum(len(o) for o in kept.values())
        assert 300 < total_kept < produced // 4, total_kept  # roughly a bound's worth, not all, not none
        for offsets in kept.values():
            assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))  # a suffix of each partition
            assert offsets[0] > 0
        consumer = bus.consumer(["t"], "g")
        await consumer.start()
        records = await drain(consumer, total_kept)
        assert b"the newest" in {r.value for r in records}
        for partition, offsets in kept.items():
            assert bus.log.bounds("t", partition) == (offsets[0], offsets[-1] + 1)


async def test_a_group_behind_the_log_start_resumes_at_the_earliest_record_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    path = tmp_path / "events.db"
    async with EmbeddedBus(path, clock=clock, retention_ms=DAY_MS, retention_check_ms=NEVER) as bus:
        await bus.create_topic("t", partitions=1)
        await bus.produce_many("t", [(None, f"a{i}".encode()) for i in range(10)])
        async with bus.consumer(["t"], "slow") as slow:
            assert len(await drain(slow, 3)) == 3
            await slow.commit()  # committed offset 3

            clock.now += 2 * DAY_MS
            await bus.produce_many("t", [(None, f"b{i}".encode()) for i in range(5)])
            await bus.enforce_retention()  # a0..a9 go, offsets 0..9
            assert bus.log.bounds("t", 0) == (10, 15)

            # The live member had read up to offset 3: it continues at 10, not at a deleted offset.
            with caplog.at_level(logging.WARNING, logger="cnai.events.embedded"):
                resumed = await drain(slow, 5)
            assert [r.offset for r in resumed] == [10, 11, 12, 13, 14]
            assert bus.retention_stats.records_skipped == 7
            assert "offsets 3..9 were deleted by retention" in caplog.text
            # No commit: the group's committed offset is still 3, below the log start.

    caplog.clear()
    async with EmbeddedBus(path, clock=clock, retention_ms=DAY_MS, retention_check_ms=NEVER) as restarted:
        async with restarted.consumer(["t"], "slow") as again:
            with caplog.at_level(logging.WARNING, logger="cnai.events.embedded"):
                records = await drain(again, 5)
            assert [r.value for r in records] == [f"b{i}".encode() for i in range(5)]
            assert restarted.retention_stats.records_skipped == 7
            assert "offsets 3..9 were deleted by retention" in caplog.text
            await again.commit()
            assert restarted.log.committed("slow", "t", 0) == 15


async def test_the_background_task_trims_without_being_asked(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "events.db"
    async with EmbeddedBus(path, clock=clock, retention_ms=HOUR_MS, retention_check_ms=20) as bus:
        await bus.produce_many("t", [(None, b"x") for _ in range(10)])
        clock.now += 2 * HOUR_MS
        for _ in range(500):  # the task checks every 20 ms; give it up to 5 s on a busy machine
            if not _offsets(path, "t"):
                break
            await asyncio.sleep(0.01)
        assert _offsets(path, "t") == {}
        assert bus.retention_stats.records_deleted == 10


def _produce_with_retention(path: str, name: str, bound: int) -> None:
    async def main() -> None:
        # This process trims too: early checks fire every bound/16 bytes it appends.
        async with EmbeddedBus(path, retention_bytes=bound, retention_check_ms=NEVER) as bus:
            for i in range(60):
                await bus.produce_many("shared", [(f"{name}-{j}".encode(), os.urandom(700)) for j in range(40)])
                if i % 10 == 0:
                    await asyncio.sleep(0)

    asyncio.run(main())


async def test_several_processes_trimming_one_file_keep_it_bounded_and_dense(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    bound = 1024 * 1024
    async with EmbeddedBus(path, retention_bytes=bound, retention_check_ms=NEVER) as bus:
        await bus.create_topic("shared", partitions=3)
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_produce_with_retention, args=(str(path), f"p{n}", bound)) for n in range(2)]
        for worker in workers:
            worker.start()
        while any(w.is_alive() for w in workers):  # this process trims at the same time
            await bus.enforce_retention()
            await asyncio.sleep(0.02)
        assert [w.exitcode for w in workers] == [0, 0]
        await bus.enforce_retention()
        assert _file_bytes(path) <= bound
        kept = _offsets(path, "shared")
        assert sum(len(o) for o in kept.values()) > 300
        for partition, offsets in kept.items():
            assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), "no holes inside what is left"
            assert bus.log.bounds("shared", partition) == (offsets[0], offsets[-1] + 1)
        # 2 processes x 60 batches x 40 records: every offset was handed out once.
        assert sum(bus.log.bounds("shared", p)[1] for p in range(3)) == 2 * 60 * 40
