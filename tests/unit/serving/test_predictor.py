"""The predictor: a deadline on predict, hung threads abandoned and capped, row counts checked.

Blocking predicts wait on an Event the test controls (no sleeps); the deadlines are 50 ms.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from cnai.errors import Unavailable
from cnai.serving.batching import Batcher
from cnai.serving.predictor import BadModelOutput, Predictor, PredictTimeout


class Blocking:
    """Row sums; blocks on ``release`` whenever a row's first value is -1 (a hang on some input)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: set[str] = set()

    def __call__(self, data: np.ndarray, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        self.threads.add(threading.current_thread().name + str(threading.get_ident()))
        if (data[:, 0] == -1).any():
            self.release.wait()
        return {name: data.sum(axis=1) for name in outputs}


async def test_a_hung_predict_times_out_and_the_next_call_gets_a_fresh_thread() -> None:
    model = Blocking()
    hung_counts: list[int] = []
    timeouts: list[int] = []
    p = Predictor(
        model, model="m", timeout_s=0.05, max_hung=3, on_hung=hung_counts.append, on_timeout=lambda: timeouts.append(1)
    )
    with pytest.raises(PredictTimeout, match=r"^predict of model 'm' timed out after 0.05s$"):
        await p(-np.ones((1, 2)), 1, ("predict",))
    assert p.hung == 1
    assert hung_counts == [1]
    assert timeouts == [1]
    # The hung thread still blocks; this call runs on a new one instead of queueing behind it.
    out = await p(np.ones((1, 2)), 1, ("predict",))
    assert out["predict"].tolist() == [2.0]
    assert len(model.threads) == 2
    model.release.set()  # the hung predict returns: it is no longer counted
    for _ in range(200):
        if p.hung == 0:
            break
        await _tick()
    assert p.hung == 0
    assert hung_counts == [1, 0]
    p.close()


async def test_hung_predicts_are_capped_then_the_model_refuses_requests() -> None:
    model = Blocking()
    p = Predictor(model, model="m", timeout_s=0.05, max_hung=2)
    for _ in range(2):
        with pytest.raises(PredictTimeout):
            await p(-np.ones((1, 2)), 1, ("predict",))
    assert p.exhausted
    with pytest.raises(Unavailable, match="'m' is not ready: 2 predicts hung"):
        await p(np.ones((1, 2)), 1, ("predict",))
    model.release.set()
    for _ in range(200):
        if not p.exhausted:
            break
        await _tick()
    assert (await p(np.ones((1, 2)), 1, ("predict",)))["predict"].tolist() == [2.0]
    p.close()


async def test_wrong_row_counts_fail_the_whole_batch() -> None:
    def drops_a_row(data: np.ndarray, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {name: data.sum(axis=1)[:-1] for name in outputs}

    b = Batcher(Predictor(drops_a_row, model="m"), max_batch_size=64, max_delay_s=1.0)
    for _ in range(3):
        b.announce()
    results = await asyncio.gather(
        *(b.submit(np.full((1, 2), float(i)), 1, ("predict",)) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, BadModelOutput) for r in results), results
    assert str(results[0]) == "predict of model 'm' returned 2 rows of 'predict' for 3 input rows"
    await b.close()


@pytest.mark.parametrize(
    ("result", "match"),
    [
        ({"predict": np.float64(1.0)}, "returned a scalar of 'predict'"),
        ({"predict": np.zeros(3)}, "returned 3 rows of 'predict' for 2 input rows"),
        ({}, "returned no output 'predict'"),
    ],
)
async def test_every_output_is_checked(result: dict[str, np.ndarray], match: str) -> None:
    p = Predictor(lambda data, outputs: result, model="m")
    with pytest.raises(BadModelOutput, match=match):
        await p(np.ones((2, 2)), 2, ("predict",))
    p.close()


async def _tick() -> None:
    await asyncio.sleep(0.01)


async def test_a_fast_model_is_waited_for_synchronously_and_a_hang_there_still_times_out() -> None:
    model = Blocking()
    p = Predictor(model, model="m", timeout_s=0.2, max_hung=3)
    for i in range(8):  # fast calls: after the first (timed), the loop waits for the worker directly
        assert (await p(np.full((1, 2), float(i)), 1, ("predict",)))["predict"].tolist() == [2.0 * i]
    assert p.sync_waits >= 6
    waits = p.sync_waits
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    hung = asyncio.create_task(p(-np.ones((1, 2)), 1, ("predict",)))
    await asyncio.sleep(0.01)
    # The hang began on the fast path (one synchronous wait, given up after sync_wait_s); calls
    # that arrive while the model's thread is busy queue behind it asynchronously, never blocking
    # the loop again, and the loop keeps running other work.
    assert p.sync_waits == waits + 1
    queued = asyncio.create_task(p(np.ones((1, 2)), 1, ("predict",)))
    await asyncio.sleep(0.01)
    assert p.sync_waits == waits + 1
    assert ticks > 10
    with pytest.raises(PredictTimeout):
        await hung
    with pytest.raises(PredictTimeout):  # it waited behind the hung call, under its own deadline
        await queued
    model.release.set()
    assert (await p(np.ones((1, 2)), 1, ("predict",)))["predict"].tolist() == [2.0]  # a fresh thread
    ticking.cancel()
    p.close()


async def test_a_model_error_on_the_fast_path_reaches_the_caller() -> None:
    calls = 0

    def fails_on_the_fifth(data: np.ndarray, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise ValueError("bad input for this model")
        return {name: data.sum(axis=1) for name in outputs}

    p = Predictor(fails_on_the_fifth, model="m", timeout_s=1)
    for _ in range(4):
        await p(np.ones((1, 2)), 1, ("predict",))
    assert p.sync_waits >= 2
    with pytest.raises(ValueError, match="bad input for this model"):
        await p(np.ones((1, 2)), 1, ("predict",))
    assert (await p(np.ones((1, 2)), 1, ("predict",)))["predict"].tolist() == [2.0]
    p.close()


async def test_a_group_is_predicted_one_input_at_a_time_with_one_hand_off() -> None:
    seen: list[list[float]] = []

    def model(data: np.ndarray, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        seen.append(data[:, 0].tolist())
        if data[0, 0] == 2:
            raise ValueError("bad input 2")
        if data[0, 0] == 3:
            return {name: np.zeros(5) for name in outputs}  # the wrong row count, for this input only
        return {name: data.sum(axis=1) for name in outputs}

    p = Predictor(model, model="m")
    inputs = [(np.full((1, 2), float(i)), 1, ("predict",)) for i in range(5)]
    outcomes = await p.each(inputs)
    assert seen == [[0.0], [1.0], [2.0], [3.0], [4.0]]  # separate calls, in order: nothing merged
    assert p.handoffs == 1
    assert [ok for ok, _ in outcomes] == [True, True, False, False, True]
    assert [v["predict"].tolist() for ok, v in outcomes if ok] == [[0.0], [2.0], [8.0]]
    assert str(outcomes[2][1]) == "bad input 2"
    assert isinstance(outcomes[3][1], BadModelOutput)
    p.close()


async def test_a_hang_inside_a_group_times_out_what_had_not_ended_and_stops_the_rest() -> None:
    model = Blocking()
    calls: list[float] = []

    def counting(data: np.ndarray, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        calls.append(float(data[0, 0]))
        return model(data, outputs)

    p = Predictor(counting, model="m", timeout_s=0.05, max_hung=3)
    inputs = [(np.full((1, 2), x), 1, ("predict",)) for x in (1.0, -1.0, 5.0)]
    outcomes = await p.each(inputs)
    assert outcomes[0][0]
    assert outcomes[0][1]["predict"].tolist() == [2.0]
    for ok, err in outcomes[1:]:
        assert not ok
        assert isinstance(err, PredictTimeout)
    assert p.hung == 1
    model.release.set()
    for _ in range(200):
        if p.hung == 0:
            break
        await _tick()
    assert p.hung == 0
    assert calls == [1.0, -1.0]  # the input after the hang never ran: its request had its answer
    p.close()
