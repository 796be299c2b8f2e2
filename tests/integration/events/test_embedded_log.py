"""What only the embedded log promises: durability across restarts, and several processes at once."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from collections import defaultdict
from pathlib import Path

from cnai.events.embedded import EmbeddedBus
from tests.integration.events.conftest import drain

PRODUCERS = 2
SINGLES = 150
BATCHES = 5
BATCH_SIZE = 30


async def test_records_and_committed_offsets_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with EmbeddedBus(path) as bus:
        await bus.create_topic("t", partitions=2)
        await bus.produce_many("t", [(f"k{i % 3}".encode(), f"v{i}".encode()) for i in range(10)])
        await bus.produce("t", b"with-header", key=b"k0", headers=[("h", b"\x01")])
        consumer = bus.consumer(["t"], "g")
        await consumer.start()
        first = await drain(consumer, 11)
        await consumer.commit()

    async with EmbeddedBus(path) as reopened:
        everything = reopened.consumer(["t"], "another-group")
        await everything.start()
        again = await drain(everything, 11)
        assert sorted((r.partition, r.offset, r.key, r.value, r.headers) for r in again) == sorted(
            (r.partition, r.offset, r.key, r.value, r.headers) for r in first
        )
        await reopened.create_topic("t", partitions=5)  # exists: left as it is
        await reopened.produce("t", b"after-restart", key=b"k0")
        resumed = reopened.consumer(["t"], "g")
        await resumed.start()
        new = await drain(resumed, 1)
        assert [r.value for r in new] == [b"after-restart"]
        # Offsets continue densely after the restart.
        same_partition = [r.offset for r in first if r.partition == new[0].partition]
        assert new[0].offset == max(same_partition) + 1
        assert {r.partition for r in again} <= {0, 1}


def _production_order(value: bytes) -> tuple[int, int]:
    """Where a value came in its producer's sequence: ``p0:7`` -> (7, 0), ``p0:b7:3`` -> (7, 4)."""
    parts = value.decode().split(":")
    if len(parts) == 2:
        return int(parts[1]), 0
    return int(parts[1][1:]), 1 + int(parts[2])


def _produce_from_another_process(path: str, name: str, start: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        async with EmbeddedBus(path) as bus:
            start.wait()  # both processes write at the same time
            for i in range(SINGLES):
                await bus.produce("shared", f"{name}:{i}".encode(), key=f"{name}-{i % 4}".encode())
                if i % (SINGLES // BATCHES) == 0:
                    batch = [(f"{name}-{j % 4}".encode(), f"{name}:b{i}:{j}".encode()) for j in range(BATCH_SIZE)]
                    await bus.produce_many("shared", batch)

    asyncio.run(main())


async def test_two_processes_producing_to_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with EmbeddedBus(path) as bus:
        await bus.create_topic("shared", partitions=3)
    context = multiprocessing.get_context("spawn")  # no forked copies of this process's threads
    start = context.Event()
    workers = [
        context.Process(target=_produce_from_another_process, args=(str(path), f"p{n}", start))
        for n in range(PRODUCERS)
    ]
    for worker in workers:
        worker.start()
    start.set()
    await asyncio.gather(*(asyncio.to_thread(w.join, 60) for w in workers))
    assert [w.exitcode for w in workers] == [0] * PRODUCERS

    per_producer = SINGLES + BATCHES * BATCH_SIZE
    async with EmbeddedBus(path) as bus:
        consumer = bus.consumer(["shared"], "check")
        await consumer.start()
        records = await drain(consumer, PRODUCERS * per_producer)
        assert await consumer.poll(timeout_ms=100) == []

    values = [r.value for r in records]
    assert len(set(values)) == len(values) == PRODUCERS * per_producer
    offsets: dict[int, list[int]] = defaultdict(list)
    by_key: dict[bytes | None, list[bytes]] = defaultdict(list)
    for r in records:
        offsets[r.partition].append(r.offset)
        by_key[r.key].append(r.value)
    assert all(o == list(range(len(o))) for o in offsets.values()), "offsets must be dense, no gaps or repeats"
    # Each producer's order per key holds (single i, then batch i's items in order), though the
    # two producers interleave.
    for key, got in by_key.items():
        assert got == sorted(got, key=_production_order), key

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_append_larger_than_an_insert_statement_keeps_every_record_in_order(tmp_path: Path) -> None:
    from cnai.events.partitioner import Partitioner
    from cnai.events.sqlite_log import SqliteLog

    log = SqliteLog(tmp_path / "events.db")
    entries = [
        (f"k{i % 2}".encode(), f"v{i}".encode(), (("n", str(i).encode()),) if i % 7 == 0 else ()) for i in range(300)
    ]
    log.append([("t", entries[:290]), ("u", entries[290:])], Partitioner(), 1234, 2)
    got = {(topic, p): log.fetch(topic, p, 0, 1000) for topic in ("t", "u") for p in range(2)}
    by_value = {r.value: r for records in got.values() for r in records}
    assert len(by_value) == 300
    for records in got.values():
        assert [r.offset for r in records] == list(range(len(records)))  # dense, from 0
        values = [int(r.value[1:]) for r in records]
        assert values == sorted(values)  # a key's records keep their order
    for i, (key, value, headers) in enumerate(entries):
        record = by_value[value]
        assert (record.key, tuple(record.headers), record.timestamp_ms) == (key, headers, 1234), i
    log.close()
