"""The event bus's behaviour, the same for both backends (the embedded log and Kafka).

Issue 5, "Must show": ordering per key; a consumer group resumes after restart; two consumers in
one group split the partitions; a consumer that dies before committing gets the events again.
The Kafka cases run against a real Kafka-protocol broker (Tansu, see tests/fixtures/kafka.py);
"restart" restarts the consumer, never the broker, which keeps everything in memory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections import defaultdict

from cnai.events.base import Record
from tests.integration.events.conftest import Backend, drain, poll_quietly, settle, unique


def by_key(records: list[Record]) -> dict[bytes | None, list[bytes]]:
    grouped: dict[bytes | None, list[bytes]] = defaultdict(list)
    for r in records:
        grouped[r.key].append(r.value)
    return grouped


async def test_records_with_one_key_keep_their_order_and_partition(backend: Backend) -> None:
    bus = await backend.make_bus()
    topic = unique("order")
    await bus.create_topic(topic, partitions=3)
    await bus.create_topic(topic, partitions=3)  # idempotent
    keys = [f"user-{i}".encode() for i in range(6)]
    expected: dict[bytes | None, list[bytes]] = defaultdict(list)
    # Single produces and batches interleaved: order must hold across both paths.
    for round_ in range(5):
        for key in keys:
            value = f"{key.decode()}:{round_}:single".encode()
            await bus.produce(topic, value, key=key, headers=[("round", str(round_).encode())])
            expected[key].append(value)
        batch = [(key, f"{key.decode()}:{round_}:batch".encode()) for key in keys]
        await bus.produce_many(topic, batch)
        for key, value in batch:
            expected[key].append(value)

    consumer = bus.consumer([topic], unique("group"))
    await consumer.start()
    records = await drain(consumer, 60)

    assert by_key(records) == expected
    partitions_of_key: dict[bytes | None, set[int]] = defaultdict(set)
    for r in records:
        partitions_of_key[r.key].add(r.partition)
        assert r.topic == topic
        assert r.timestamp_ms > 0
    assert all(len(p) == 1 for p in partitions_of_key.values()), partitions_of_key
    assert len({next(iter(p)) for p in partitions_of_key.values()}) > 1, "6 keys should use several partitions"
    # Offsets are dense and increasing per partition.
    offsets: dict[int, list[int]] = defaultdict(list)
    for r in records:
        offsets[r.partition].append(r.offset)
    assert all(o == list(range(len(o))) for o in offsets.values()), offsets
    singles = [r for r in records if r.value.endswith(b":single")]
    assert all(r.headers == (("round", r.value.split(b":")[1]),) for r in singles)
    assert await poll_quietly(consumer) == []


async def test_group_resumes_from_committed_offsets_after_restart(backend: Backend) -> None:
    bus = await backend.make_bus()
    topic, group = unique("resume"), unique("group")
    await bus.create_topic(topic, partitions=3)
    first = [(f"k{i % 4}".encode(), f"first-{i}".encode()) for i in range(12)]
    await bus.produce_many(topic, first)

    consumer = bus.consumer([topic], group)
    await consumer.start()
    assert sorted(r.value for r in await drain(consumer, 12)) == sorted(v for _, v in first)
    await consumer.commit()
    await consumer.close()

    second = [(f"k{i % 4}".encode(), f"second-{i}".encode()) for i in range(5)]
    await bus.produce_many(topic, second)

    # A new process: a fresh bus and consumer in the same group.
    restarted = (await backend.make_bus()).consumer([topic], group)
    await restarted.start()
    again = await drain(restarted, 5)
    assert sorted(r.value for r in again) == sorted(v for _, v in second)
    assert await poll_quietly(restarted) == []
    await restarted.close()

    # Another group has its own offsets and reads everything.
    other = bus.consumer([topic], unique("other-group"))
    await other.start()
    assert len(await drain(other, 17)) == 17
    await other.close()


async def test_two_consumers_in_one_group_split_the_partitions(backend: Backend) -> None:
    bus = await backend.make_bus()
    topic, group = unique("split"), unique("group")
    await bus.create_topic(topic, partitions=3)
    a = bus.consumer([topic], group)
    b = (await backend.make_bus()).consumer([topic], group)
    await a.start()
    await b.start()
    await settle([a, b], {(topic, p) for p in range(3)})

    sent = [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(30)]
    await bus.produce_many(topic, sent)
    got_a: list[Record] = []
    got_b: list[Record] = []
    while len(got_a) + len(got_b) < 30:
        got_a += await a.poll(timeout_ms=100)
        got_b += await b.poll(timeout_ms=100)

    parts_a = {r.partition for r in got_a}
    parts_b = {r.partition for r in got_b}
    assert parts_a, "both members must receive records"
    assert parts_b, "both members must receive records"
    assert parts_a.isdisjoint(parts_b)
    assert parts_a | parts_b == {0, 1, 2}
    assert {(topic, p) for p in parts_a} <= a.assignment()
    assert sorted(r.value for r in got_a + got_b) == sorted(v for _, v in sent)  # each exactly once
    await a.commit()
    await b.commit()

    # When one member leaves, the other takes over its partitions and reads only new records.
    await b.close()
    await bus.produce_many(topic, [(f"key-{i}".encode(), f"late-{i}".encode()) for i in range(6)])
    late = await drain(a, 6)
    assert sorted(r.value for r in late) == sorted(f"late-{i}".encode() for i in range(6))
    assert a.assignment() == {(topic, p) for p in range(3)}
    await a.close()


async def test_consumer_that_stops_before_committing_gets_the_events_again(backend: Backend) -> None:
    bus = await backend.make_bus()
    topic, group = unique("redeliver"), unique("group")
    await bus.create_topic(topic, partitions=1)  # one partition: offsets tell the whole story
    await bus.produce_many(topic, [(b"k", f"e{i}".encode()) for i in range(10)])

    first = bus.consumer([topic], group)
    await first.start()
    head = await drain(first, 4)
    await first.commit()  # e0..e3 are done
    tail = await drain(first, 6)
    assert [r.value for r in head + tail] == [f"e{i}".encode() for i in range(10)]
    await first.close()  # stops before committing e4..e9

    second = (await backend.make_bus()).consumer([topic], group)
    await second.start()
    again = await drain(second, 6)
    assert [r.offset for r in again] == list(range(4, 10))
    assert [r.value for r in again] == [f"e{i}".encode() for i in range(4, 10)]
    await second.close()


_KILLED_CONSUMER = textwrap.dedent(
    """
    import asyncio, sys
    from cnai.events import bus_from_url

    async def main(url, topic, group):
        bus = bus_from_url(url)
        await bus.start()
        consumer = bus.consumer([topic], group)
        await consumer.start()
        seen = 0
        while seen < 10:
            seen += len(await consumer.poll(timeout_ms=200))
        print("read", seen, flush=True)
        await asyncio.sleep(3600)  # killed here, never committing

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_consumer_killed_before_committing_gets_the_events_again(backend: Backend) -> None:
    bus = await backend.make_bus()
    topic, group = unique("killed"), unique("group")
    await bus.create_topic(topic, partitions=3)
    await bus.produce_many(topic, [(f"k{i}".encode(), f"e{i}".encode()) for i in range(10)])
    url = backend.url
    if backend.name == "embedded":
        url += "?lease_ms=500"  # the dead member's lease must run out before the others may take over

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_CONSUMER,
        url,
        topic,
        group,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        assert line.strip() == b"read 10", line
    finally:
        child.send_signal(signal.SIGKILL)  # no clean shutdown: no commit, no leaving the group
        await child.wait()

    survivor = bus.consumer([topic], group)
    await survivor.start()
    again = await drain(survivor, 10, timeout_s=30)
    assert sorted(r.value for r in again) == sorted(f"e{i}".encode() for i in range(10))
    await survivor.close()


async def test_a_new_group_not_from_the_beginning_sees_only_new_records(backend: Backend) -> None:
    bus = await backend.make_bus()
    topic = unique("latest")
    await bus.create_topic(topic, partitions=2)
    # One record per request on purpose: Tansu 0.6 reports a partition's end offset as the last
    # batch's base offset + 1, so after a multi-record batch "latest" would point into the batch.
    for i in range(6):
        await bus.produce(topic, b"old", key=f"k{i}".encode())
    consumer = bus.consumer([topic], unique("group"), from_beginning=False)
    await consumer.start()
    while len(consumer.assignment()) < 2:  # positions are fixed when partitions are assigned
        assert await consumer.poll(timeout_ms=100) == []
    await bus.produce_many(topic, [(f"k{i}".encode(), b"new") for i in range(6)])
    assert [r.value for r in await drain(consumer, 6)] == [b"new"] * 6
    assert await poll_quietly(consumer) == []
    await consumer.close()


async def test_concurrent_producers_keep_the_order_of_each_key(backend: Backend) -> None:
    bus = await backend.make_bus()
    topic = unique("concurrent")
    await bus.create_topic(topic, partitions=3)

    async def produce(task: int) -> None:  # one key per task, as one request stream
        for i in range(20):
            await bus.produce(topic, f"{task}:{i}".encode(), key=f"task-{task}".encode())

    await asyncio.gather(*(produce(t) for t in range(20)))
    consumer = bus.consumer([topic], unique("group"))
    await consumer.start()
    records = await drain(consumer, 400)
    assert by_key(records) == {f"task-{t}".encode(): [f"{t}:{i}".encode() for i in range(20)] for t in range(20)}
    offsets: dict[int, list[int]] = defaultdict(list)
    for r in records:
        offsets[r.partition].append(r.offset)
    assert all(o == list(range(len(o))) for o in offsets.values()), offsets
    await consumer.close()
