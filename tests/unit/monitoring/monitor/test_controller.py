"""The monitor controller on a real embedded bus and SQLite: windows, drift, the outbox, restarts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from cnai.db.schema import monitor_buffer
from cnai.events import bus_from_url, decode
from cnai.monitoring.feedback import Feedback, save_feedback
from cnai.monitoring.monitor import ALERT_EVENT_TYPE, KIND, MonitorController, MonitorStore
from cnai.resources import Controller
from tests.fixtures.servers import free_port
from tests.unit.monitoring.monitor.conftest import Env
from tests.unit.monitoring.monitor.receiver import Receiver, await_for


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def webhook(url: str, **options: Any) -> dict[str, Any]:
    return {"webhook": {"url": url, "backoffSeconds": 0.05, **options}}


def windows(env: Env, name: str) -> list[dict[str, Any]]:
    return list(reversed(MonitorStore(env.engine).windows(name)))


def buffered(env: Env, name: str) -> int:
    with env.engine.connect() as conn:
        query = select(func.count()).select_from(monitor_buffer).where(monitor_buffer.c.monitor == name)
        return int(conn.execute(query).scalar_one())


def action_states(env: Env, name: str) -> dict[str, str]:
    return {a["key"]: a["status"] for a in MonitorStore(env.engine).actions(name)}


@pytest.mark.parametrize("env", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_drift_is_flagged_within_a_window_and_alerted_once_per_breach(env: Env, receiver: Receiver) -> None:
    env.apply("m", actions=[webhook(receiver.url), {"alert": {"topic": "alerts"}}])
    registry = CollectorRegistry()
    controller = env.controller(registry)
    await controller.start()
    try:
        await env.produce(100, seed=1)  # two windows like the reference
        await await_for(lambda: len(windows(env, "m")) == 2, what="two windows")
        await env.produce(100, shift=2.0, seed=2)  # two shifted windows
        await await_for(lambda: len(windows(env, "m")) == 4, what="four windows")
        await await_for(lambda: set(action_states(env, "m").values()) == {"delivered"}, what="deliveries")
    finally:
        await controller.stop()
    stored = windows(env, "m")
    assert [(w["window"], w["rows"], w["dataset_drift"], w["breached"]) for w in stored] == [
        (1, 50, False, False),
        (2, 50, False, False),
        (3, 50, True, True),
        (4, 50, True, True),
    ]
    assert set(stored[2]["features"]) == {"a", "b", "c"}
    assert stored[2]["features"]["a"]["test"] == "ks"  # Evidently's choice for <= 1000 reference rows
    assert receiver.keys() == {"m/3/0": 1, "m/4/0": 1}
    body = {b["window"]: b for b in receiver.bodies()}[3]  # actions are delivered concurrently
    assert body["monitor"] == "m"
    assert body["window"] == 3
    assert body["verdict"] == "drift"
    assert body["drift_share"] == stored[2]["drift_share"]
    assert body["drifted_features"] == sorted(f for f, r in stored[2]["features"].items() if r["drifted"])
    assert body["window_start"].endswith("Z")
    async with bus_from_url(env.bus_url) as bus, bus.consumer(["alerts"], group="t") as consumer:
        events = [decode(r.value) for r in await consumer.poll(timeout_ms=2000)]
    assert sorted(e["id"] for e in events) == ["m/3/1", "m/4/1"]
    assert {e["type"] for e in events} == {ALERT_EVENT_TYPE}

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"monitor": "m", **labels})

    assert sample("cnai_monitor_windows_total") == 4
    assert sample("cnai_monitor_breaches_total") == 2
    assert sample("cnai_drift_share") == stored[3]["drift_share"]
    assert sample("cnai_dataset_drift") == 1
    assert sample("cnai_monitor_rows") == 50
    assert sample("cnai_feature_drift_score", feature="a") == stored[3]["features"]["a"]["score"]
    assert sample("cnai_monitor_actions_delivered_total", action="webhook") == 2
    status = env.resources.get(KIND, "m").status
    assert status["phase"] == "Ready"
    assert status["windows"] == 4
    assert status["breaches"] == 2
    assert status["alerts"] == {"pending": 0, "delivered": 4, "failed": 0}
    assert status["lastWindow"]["window"] == 4
    assert status["lastWindow"]["datasetDrift"] is True


async def test_a_restart_continues_the_open_window(env: Env) -> None:
    env.apply("m")
    first = env.controller()
    await first.start()
    await env.produce(30, seed=1)
    await await_for(lambda: buffered(env, "m") == 30, what="30 buffered rows")
    await first.stop()
    second = env.controller()
    await second.start()
    try:
        await env.produce(40, seed=2, per_request=4)  # a request's rows straddle the window's end
        await await_for(lambda: len(windows(env, "m")) == 1 and buffered(env, "m") == 20, what="window 1")
    finally:
        await second.stop()
    [window] = windows(env, "m")
    assert window["rows"] == 50


@pytest.mark.parametrize("env", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_records_replayed_after_a_lost_bus_commit_are_not_counted_twice(env: Env, receiver: Receiver) -> None:
    """A crash after the window's transaction but before the offsets reach the bus."""
    env.apply("m", actions=[webhook(receiver.url)])
    crashing = env.controller()
    real_consumer = crashing.bus.consumer

    def consumer_that_never_commits(*args: Any, **kwargs: Any) -> Any:
        consumer = real_consumer(*args, **kwargs)

        async def lost_commit() -> None:
            return None

        consumer.commit = lost_commit  # type: ignore[method-assign]
        return consumer

    crashing.bus.consumer = consumer_that_never_commits  # type: ignore[method-assign]
    await crashing.start()
    await env.produce(120, shift=2.0, seed=3)
    await await_for(lambda: action_states(env, "m") == {"m/1/0": "delivered", "m/2/0": "delivered"}, what="alerts")
    await crashing.stop()
    restarted = env.controller()
    await restarted.start()
    try:
        await env.produce(30, shift=2.0, seed=4)  # completes window 3 only if nothing was counted twice
        await await_for(lambda: len(windows(env, "m")) == 3, what="window 3")
        await await_for(lambda: action_states(env, "m").get("m/3/0") == "delivered", what="third alert")
    finally:
        await restarted.stop()
    assert [w["rows"] for w in windows(env, "m")] == [50, 50, 50]
    assert buffered(env, "m") == 0
    assert receiver.keys() == {"m/1/0": 1, "m/2/0": 1, "m/3/0": 1}


async def test_a_pending_action_is_retried_after_a_restart_with_the_same_key(env: Env) -> None:
    receiver = Receiver(fail_first=2)
    try:
        env.apply("m", actions=[webhook(receiver.url, backoffSeconds=0.3)])
        first = env.controller()
        await first.start()
        await env.produce(50, shift=2.0, seed=5)
        await await_for(lambda: len(receiver.posts) >= 1, what="a first attempt")
        await first.stop()
        assert action_states(env, "m") == {"m/1/0": "pending"}
        second = env.controller()
        await second.start()
        try:
            await await_for(lambda: action_states(env, "m") == {"m/1/0": "delivered"}, what="delivery")
        finally:
            await second.stop()
        assert receiver.keys() == {"m/1/0": 3}
        assert receiver.answers == [503, 503, 200]
    finally:
        receiver.close()


async def test_retries_give_up_after_max_retries(env: Env) -> None:
    receiver = Receiver(fail_first=100, fail_status=500)
    unreachable = f"http://127.0.0.1:{free_port()}/hook"
    command = {"command": {"argv": [sys.executable, "-c", "raise SystemExit(1)"], "maxRetries": 1, "backoffSeconds": 0}}
    registry = CollectorRegistry()
    try:
        env.apply(
            "m",
            actions=[webhook(receiver.url, maxRetries=2), webhook(unreachable, maxRetries=1), command],
        )
        controller = env.controller(registry)
        await controller.start()
        try:
            await env.produce(50, shift=2.0, seed=6)
            await await_for(lambda: set(action_states(env, "m").values()) == {"failed"}, what="giving up")
        finally:
            await controller.stop()
        assert receiver.keys() == {"m/1/0": 3}  # the first attempt and two retries
        rows = {a["key"]: a for a in MonitorStore(env.engine).actions("m")}
        assert rows["m/1/0"]["attempts"] == 3
        assert rows["m/1/0"]["last_result"].startswith("HTTP 500")
        assert rows["m/1/1"]["attempts"] == 2
        assert rows["m/1/2"]["last_result"] == "exit 1"
        assert (
            registry.get_sample_value("cnai_monitor_action_failures_total", {"monitor": "m", "action": "webhook"}) == 5
        )
        assert (
            registry.get_sample_value("cnai_monitor_actions_abandoned_total", {"monitor": "m", "action": "command"})
            == 1
        )
        assert env.resources.get(KIND, "m").status["alerts"]["failed"] == 3
    finally:
        receiver.close()


@pytest.mark.parametrize("env", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_late_labels_update_performance_and_breach_once(env: Env, receiver: Receiver) -> None:
    performance = {"task": "classification", "thresholds": {"accuracy": 0.9}, "minLabels": 10}
    env.apply("m", window={"count": 20}, tests={"performance": performance}, actions=[webhook(receiver.url)])
    registry = CollectorRegistry()
    controller = env.controller(registry)
    await controller.start()
    try:
        ids = await env.produce(20, seed=7)  # like the reference: no drift
        await await_for(lambda: len(windows(env, "m")) == 1, what="window 1")
        assert windows(env, "m")[0]["breached"] is False
        # The first 8 labels agree with the model's predictions, the next 4 do not: accuracy 8/12.
        predicted = _predictions(env, ids)
        labels = [Feedback(r, predicted[r] if i < 8 else 1 - predicted[r]) for i, r in enumerate(ids[:12])]
        save_feedback(env.engine, labels[:6])  # below minLabels: measured, not judged
        await await_for(lambda: (windows(env, "m")[0]["performance"] or {}).get("labelled") == 6, what="6 labels")
        assert windows(env, "m")[0]["breached"] is False
        save_feedback(env.engine, labels[6:])
        await await_for(lambda: windows(env, "m")[0]["breached"], what="performance breach")
        await await_for(lambda: action_states(env, "m") == {"m/1/0": "delivered"}, what="delivery")
        save_feedback(env.engine, [Feedback(r, predicted[r]) for r in ids[12:]])  # more labels later
        await await_for(lambda: windows(env, "m")[0]["performance"]["labelled"] == 20, what="20 labels")
    finally:
        await controller.stop()
    [window] = windows(env, "m")
    assert window["verdict"] == "performance"
    assert window["performance"]["accuracy"] == pytest.approx(16 / 20)
    assert window["performance"]["breached"] == ["accuracy"]
    assert receiver.keys() == {"m/1/0": 1}  # one alert for the window, however many labels follow
    [body] = receiver.bodies()
    assert body["verdict"] == "performance"
    assert body["performance"]["accuracy"] == pytest.approx(8 / 12)
    assert registry.get_sample_value("cnai_monitor_performance", {"monitor": "m", "metric": "accuracy"}) == 0.8


def _predictions(env: Env, ids: list[str]) -> dict[str, int]:
    from cnai.db.schema import monitor_predictions

    with env.engine.connect() as conn:
        rows = conn.execute(select(monitor_predictions.c.request_id, monitor_predictions.c.prediction)).all()
    found = {r.request_id: int(r.prediction) for r in rows}
    assert set(ids) <= set(found)
    return found


async def test_time_windows_close_on_the_clock(env: Env) -> None:
    env.apply("m", window={"seconds": 0.3})
    controller = env.controller()
    await controller.start()
    try:
        await env.produce(12, seed=8, per_request=3)
        await await_for(lambda: len(windows(env, "m")) == 1, what="a time window")
    finally:
        await controller.stop()
    assert windows(env, "m")[0]["rows"] == 12


async def test_status_reports_a_bad_reference_until_it_is_fixed_and_delete_cleans_up(env: Env) -> None:
    missing = env.tmp / "later.csv"
    env.apply("m", reference={"file": str(missing)}, features=["a", "b"])
    registry = CollectorRegistry()
    controller = env.controller(registry)
    await controller.start()
    try:
        await await_for(lambda: env.resources.get(KIND, "m").status.get("phase") == "Error", what="Error phase")
        assert "File not found" in env.resources.get(KIND, "m").status["message"]
        missing.write_bytes(env.reference.read_bytes())
        await await_for(lambda: env.resources.get(KIND, "m").status.get("phase") == "Ready", what="Ready phase")
        await env.produce(60, seed=9)
        await await_for(lambda: len(windows(env, "m")) == 1 and buffered(env, "m") == 10, what="a window")
        assert set(windows(env, "m")[0]["features"]) == {"a", "b"}
        assert registry.get_sample_value("cnai_drift_share", {"monitor": "m"}) is not None
        env.resources.delete(KIND, "m")
        await await_for(lambda: buffered(env, "m") == 0, what="the open window dropped")
        await await_for(lambda: registry.get_sample_value("cnai_drift_share", {"monitor": "m"}) is None, what="series")
    finally:
        await controller.stop()
    assert len(windows(env, "m")) == 1  # history stays


async def test_events_of_other_models_and_versions_are_ignored(env: Env) -> None:
    env.apply("m", target={"model": {"name": "iris", "version": "2"}})
    env.apply("n", target={"deployment": {"name": "wine"}})
    controller: MonitorController = env.controller()
    assert isinstance(controller, Controller)  # what `cnai up` runs
    await controller.start()
    try:
        await env.produce(50, seed=10)  # iris version 1
        await env.produce(50, seed=11, model="wine")
        await await_for(lambda: len(windows(env, "n")) == 1, what="wine's window")
    finally:
        await controller.stop()
    assert windows(env, "m") == []
    assert buffered(env, "m") == 0


async def test_an_incident_of_five_breaching_windows_fires_its_action_once(env: Env, receiver: Receiver) -> None:
    env.apply("m", cooldownSeconds=3600, actions=[webhook(receiver.url)])
    controller = env.controller()
    await controller.start()
    try:
        await env.produce(250, shift=2.0, seed=21)  # five drifted windows: one incident
        await await_for(lambda: len(windows(env, "m")) == 5, what="five windows")
        await await_for(lambda: action_states(env, "m") == {"m/1/0": "delivered"}, what="the delivery")
    finally:
        await controller.stop()
    restarted = env.controller()  # the incident survives a restart: no second firing
    await restarted.start()
    try:
        await env.produce(50, shift=2.0, seed=22)
        await await_for(lambda: len(windows(env, "m")) == 6, what="window 6")
        await env.produce(50, seed=23)  # a quiet window ends the incident...
        await env.produce(50, shift=2.0, seed=24)  # ...so the next drift is a new one
        await await_for(lambda: "m/8/0" in action_states(env, "m"), what="the second incident's alert")
        await await_for(lambda: set(action_states(env, "m").values()) == {"delivered"}, what="deliveries")
    finally:
        await restarted.stop()
    assert [w["breached"] for w in windows(env, "m")] == [True] * 6 + [False, True]
    assert receiver.keys() == {"m/1/0": 1, "m/8/0": 1}


async def test_a_new_generation_is_observed_before_any_window_closes(env: Env) -> None:
    env.apply("m")
    controller = env.controller()
    await controller.start()
    try:
        await await_for(lambda: env.resources.get(KIND, "m").observed_generation == 1, what="generation 1")
        env.apply("m", tests={"driftShareThreshold": 0.3})
        assert env.resources.get(KIND, "m").generation == 2
        await await_for(lambda: env.resources.get(KIND, "m").observed_generation == 2, what="generation 2")
    finally:
        await controller.stop()
    assert windows(env, "m") == []
