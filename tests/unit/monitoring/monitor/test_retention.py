"""Retention: stored predictions and labels past their time go; window results stay."""

from __future__ import annotations

from sqlalchemy import func, select

from cnai._clock import now_ms
from cnai.db.schema import feedback, monitor_predictions, monitor_windows
from cnai.monitoring.feedback import Feedback, save_feedback
from cnai.monitoring.monitor import MonitorStore
from tests.unit.monitoring.monitor.conftest import Env
from tests.unit.monitoring.monitor.receiver import await_for


def count(env: Env, table: object) -> int:
    with env.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


async def test_prune_drops_old_predictions_and_labels_but_keeps_windows(env: Env) -> None:
    performance = {"task": "classification", "thresholds": {"accuracy": 0.5}}  # predictions are kept for labels
    env.apply("m", window={"count": 20}, tests={"performance": performance})
    controller = env.controller()
    await controller.start()
    try:
        ids = await env.produce(20, seed=3)
        await await_for(lambda: count(env, monitor_windows) == 1, what="one window")
    finally:
        await controller.stop()
    save_feedback(env.engine, [Feedback(r, 1) for r in ids[:5]])
    store = MonitorStore(env.engine)
    with env.engine.connect() as conn:
        ended = int(conn.execute(select(monitor_windows.c.end_ms)).scalar_one())

    assert store.prune(ended) == (0, 0)
    assert (count(env, monitor_predictions), count(env, feedback)) == (20, 5)
    assert store.prune(ended + 1) == (20, 0)  # the labels were received after the window ended
    assert store.prune(now_ms() + 1) == (0, 5)
    assert (count(env, monitor_predictions), count(env, feedback), count(env, monitor_windows)) == (0, 0, 1)
