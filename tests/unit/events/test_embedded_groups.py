"""Consumer-group leases in the embedded log, with a fake clock: time is stepped, never slept."""

from __future__ import annotations

from pathlib import Path

from cnai.events.embedded import EmbeddedBus

LEASE_MS = 1_000


class FakeClock:
    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


async def test_a_member_whose_lease_runs_out_loses_its_partitions(tmp_path: Path) -> None:
    clock = FakeClock()
    async with EmbeddedBus(tmp_path / "e.db", lease_ms=LEASE_MS, clock=clock) as bus:
        await bus.create_topic("t", partitions=3)
        await bus.produce_many("t", [(f"k{i}".encode(), f"v{i}".encode()) for i in range(12)])
        a = bus.consumer(["t"], "g")
        b = bus.consumer(["t"], "g")
        await a.start()
        await b.start()
        got_a = await a.poll(timeout_ms=0)
        got_b = await b.poll(timeout_ms=0)
        assert a.assignment()
        assert b.assignment()
        assert a.assignment().isdisjoint(b.assignment())
        assert len(got_a) + len(got_b) == 12

        # a goes silent (a stuck or dead process) past its lease; b keeps polling and takes over
        # a's partitions, reading them from the last commit (none): a's records come again.
        clock.advance(LEASE_MS + 1)
        taken_over = await b.poll(timeout_ms=0)
        assert b.assignment() == {("t", 0), ("t", 1), ("t", 2)}
        assert sorted(r.value for r in taken_over) == sorted(r.value for r in got_a)

        # b moves on and commits; a's late commit of older offsets must not move the group back.
        await bus.produce_many("t", [(f"k{i}".encode(), f"new{i}".encode()) for i in range(6)])
        assert len(await b.poll(timeout_ms=0)) == 6
        await b.commit()
        await a.commit()
        await b.close()
        late = bus.consumer(["t"], "g")
        await late.start()
        assert await late.poll(timeout_ms=0) == []
        await late.close()


async def test_a_member_that_comes_back_rejoins(tmp_path: Path) -> None:
    clock = FakeClock()
    async with EmbeddedBus(tmp_path / "e.db", lease_ms=LEASE_MS, clock=clock) as bus:
        await bus.create_topic("t", partitions=2)
        a = bus.consumer(["t"], "g")
        b = bus.consumer(["t"], "g")
        await a.start()
        await b.start()
        await a.poll(timeout_ms=0)
        await b.poll(timeout_ms=0)
        assert len(a.assignment()) == len(b.assignment()) == 1
        clock.advance(LEASE_MS * 5)
        await b.poll(timeout_ms=0)  # b renews and removes the expired a
        assert len(b.assignment()) == 2
        await a.poll(timeout_ms=0)  # a is back: it joins again and takes its share
        await b.poll(timeout_ms=0)
        assert len(a.assignment()) == len(b.assignment()) == 1


async def test_polls_renew_the_lease(tmp_path: Path) -> None:
    clock = FakeClock()
    async with EmbeddedBus(tmp_path / "e.db", lease_ms=LEASE_MS, clock=clock) as bus:
        await bus.create_topic("t", partitions=2)
        a = bus.consumer(["t"], "g")
        b = bus.consumer(["t"], "g")
        await a.start()
        await b.start()
        for _ in range(10):  # 5 lease periods pass, but both poll every 0.5 lease
            clock.advance(LEASE_MS // 2)
            await a.poll(timeout_ms=0)
            await b.poll(timeout_ms=0)
            assert len(a.assignment()) == len(b.assignment()) == 1


async def test_commit_after_losing_a_partition_commits_only_what_is_still_owned(tmp_path: Path) -> None:
    clock = FakeClock()
    async with EmbeddedBus(tmp_path / "e.db", lease_ms=LEASE_MS, clock=clock) as bus:
        await bus.create_topic("t", partitions=2)
        await bus.produce_many("t", [(f"k{i}".encode(), f"v{i}".encode()) for i in range(10)])
        a = bus.consumer(["t"], "g")
        await a.start()
        got_a_all = await a.poll(timeout_ms=0)
        assert len(got_a_all) == 10  # a alone owns both partitions
        b = bus.consumer(["t"], "g")
        await b.start()  # b joins before a commits: one partition is b's now
        await a.commit()
        owned_by_a = a.assignment()
        assert len(owned_by_a) == 1
        got_b = await b.poll(timeout_ms=0)
        # b re-reads its partition from the start: a's progress there was not committed.
        assert {(r.topic, r.partition) for r in got_b}.isdisjoint(owned_by_a)
        assert [r.offset for r in got_b] == list(range(len(got_b)))
        assert len(got_b) == 10 - len([r for r in got_a_all if (r.topic, r.partition) in owned_by_a])
        await b.close()
        await a.close()
