"""The batcher: a fake clock and a recording predict; no sleeps."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from cnai.serving.batching import Batcher, Predictor, Unbatched, dispatch_wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """predict = row sums; records each batch's row count; raises on a row of -1s."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, data: np.ndarray, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        self.batches.append(len(data))
        if (data == -1).all(axis=1).any():
            raise ValueError("poisoned row")
        return {name: data.sum(axis=1) for name in outputs}


def test_dispatch_policy() -> None:
    kw = {"deadline": 10.0, "max_rows": 8}
    # Nothing more announced than queued: go now, whatever the deadline.
    assert dispatch_wait(now=0.0, queued_rows=1, queued_items=1, announced=1, **kw) == 0
    # More announced: wait until the deadline...
    assert dispatch_wait(now=4.0, queued_rows=1, queued_items=1, announced=3, **kw) == 6.0
    # ...but never past it, and never once the batch is full.
    assert dispatch_wait(now=11.0, queued_rows=1, queued_items=1, announced=3, **kw) == 0
    assert dispatch_wait(now=4.0, queued_rows=8, queued_items=2, announced=5, **kw) == 0


def _batcher(rec: Recorder, clock: FakeClock, **kw: float) -> Batcher:
    return Batcher(Predictor(rec), max_batch_size=int(kw.get("max", 64)), max_delay_s=kw.get("delay", 1.0), clock=clock)


async def test_concurrent_submits_form_one_batch_and_split_back() -> None:
    rec, clock = Recorder(), FakeClock()
    b = _batcher(rec, clock)
    rows = [np.full((1, 3), float(i)) for i in range(10)]
    for _ in rows:
        b.announce()
    results = await asyncio.gather(*(b.submit(r, 1, ("predict",)) for r in rows))
    assert rec.batches == [10]
    assert [float(r["predict"][0]) for r in results] == [3.0 * i for i in range(10)]
    await b.close()


async def test_waits_for_announced_requests_until_fake_deadline() -> None:
    rec, clock = Recorder(), FakeClock()
    b = _batcher(rec, clock, delay=0.5)
    b.announce()
    b.announce()  # a second request is being read
    first = asyncio.create_task(b.submit(np.ones((1, 2)), 1, ("predict",)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert rec.batches == []  # held back for the announced batch-mate
    clock.now += 0.6  # past the deadline
    b.poke()
    assert float((await first)["predict"][0]) == 2.0
    assert rec.batches == [1]
    b.withdraw()  # the second request failed to parse
    await b.close()


async def test_max_batch_size_splits_batches() -> None:
    rec, clock = Recorder(), FakeClock()
    b = _batcher(rec, clock, max=4)
    for _ in range(10):
        b.announce()
    await asyncio.gather(*(b.submit(np.ones((1, 2)), 1, ("predict",)) for _ in range(10)))
    assert sum(rec.batches) == 10
    assert max(rec.batches) <= 4
    await b.close()


async def test_failing_request_isolated_from_batch_mates() -> None:
    rec, clock = Recorder(), FakeClock()
    b = _batcher(rec, clock)
    inputs = [np.ones((1, 2)), -np.ones((1, 2)), np.full((1, 2), 2.0)]
    for _ in inputs:
        b.announce()
    results = await asyncio.gather(*(b.submit(x, 1, ("predict",)) for x in inputs), return_exceptions=True)
    assert float(results[0]["predict"][0]) == 2.0
    assert isinstance(results[1], ValueError)
    assert float(results[2]["predict"][0]) == 4.0
    await b.close()


async def test_different_outputs_are_not_merged() -> None:
    rec, clock = Recorder(), FakeClock()
    b = _batcher(rec, clock)
    b.announce()
    b.announce()
    await asyncio.gather(b.submit(np.ones((2, 2)), 2, ("predict",)), b.submit(np.ones((1, 2)), 1, ("a", "b")))
    assert sorted(rec.batches) == [1, 2]
    await b.close()


async def test_close_answers_queued_requests() -> None:
    rec, clock = Recorder(), FakeClock()
    b = _batcher(rec, clock)
    b.announce()
    task = asyncio.create_task(b.submit(np.ones((1, 2)), 1, ("predict",)))
    await asyncio.sleep(0)
    await b.close()
    assert float((await task)["predict"][0]) == 2.0
    with pytest.raises(RuntimeError, match="closed"):
        await b.submit(np.ones((1, 2)), 1, ("predict",))


async def test_unbatched_and_inline_predictor() -> None:
    rec = Recorder()
    predictor = Predictor(rec, inline_below_s=10.0)
    u = Unbatched(predictor)
    for i in range(3):
        u.announce()
        out = await u.submit(np.full((1, 2), float(i)), 1, ("predict",))
        assert float(out["predict"][0]) == 2.0 * i
    assert rec.batches == [1, 1, 1]
    assert predictor.timing.ewma_s is not None  # later calls ran inline (tiny predicts)
    await u.close()


async def test_unbatched_requests_that_arrive_together_share_one_hand_off_not_one_predict() -> None:
    rec = Recorder()
    predictor = Predictor(rec, sync_wait_s=0.1)
    u = Unbatched(predictor)
    u.announce()
    await u.submit(np.ones((1, 3)), 1, ("predict",))  # a lone request: times the model
    before = predictor.handoffs
    rows = [np.full((1, 3), float(i)) for i in range(10)]
    rows[4] = -np.ones((1, 3))  # one bad request among them
    for _ in rows:
        u.announce()
    results = await asyncio.gather(*(u.submit(r, 1, ("predict",)) for r in rows), return_exceptions=True)
    assert rec.batches == [1] * 11  # every request its own predict call: batching stays off
    assert predictor.handoffs - before < len(rows)  # but not one thread hand-off each
    assert isinstance(results[4], ValueError)  # the bad request fails alone
    good = [float(r["predict"][0]) for i, r in enumerate(results) if i != 4]  # type: ignore[index]
    assert good == [3.0 * i for i in range(10) if i != 4]
    assert u.queue_depth == 0
    await u.close()
