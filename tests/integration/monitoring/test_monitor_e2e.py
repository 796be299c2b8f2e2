"""End to end: `cnai serve` on a real scikit-learn model logs inference events to an embedded bus;
the monitor controller judges them in windows of 50 rows and POSTs one alert per breaching window
to a real webhook receiver, also when the controller is stopped mid-stream and a new one resumes.

The receiver dedupes nothing: each idempotency key must arrive exactly once.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.db.schema import monitor_buffer
from cnai.events import bus_from_url
from cnai.monitoring.monitor import KIND, MonitorController, MonitorStore, admit_monitor, validate_monitor_spec
from cnai.resources import SYSTEM, AdmissionContext, Document, ResourceStore
from cnai.serving.settings import ServeSettings
from tests.fixtures import serving_models as sm
from tests.unit.monitoring.monitor.receiver import Receiver, await_for

pytestmark = pytest.mark.integration

WINDOW = 50
ROWS_PER_REQUEST = 10


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sm.LiveServing, str]]:
    """`cnai serve` writing its inference log to the embedded bus, or to a real Kafka-protocol broker."""
    with warnings.catch_warnings():  # mlflow's hint that integer outputs cannot hold NaN: intended
        warnings.simplefilter("ignore", UserWarning)
        model = sm.save_logistic(tmp_path / "iris-model")
    if request.param == "kafka":
        bus_url = f"kafka://{request.getfixturevalue('kafka_bootstrap')}"
    else:
        bus_url = f"sqlite:///{tmp_path / 'events.db'}"
    server = sm.start_serving(ServeSettings(models=[f"iris={model}"], home=tmp_path, event_bus=bus_url))
    yield server, bus_url
    server.stop()


class Traffic:
    """Requests of ``ROWS_PER_REQUEST`` rows to /invocations, each with its own request id."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0

    async def send(self, client: httpx.AsyncClient, rows: int, shift: float, seed: int, pause: float = 0.0) -> None:
        frame, _ = sm.training_frame(rows, seed=seed)
        values = frame.to_numpy() + shift
        for start in range(0, rows, ROWS_PER_REQUEST):
            body = {
                "dataframe_split": {"columns": sm.FEATURES, "data": values[start : start + ROWS_PER_REQUEST].tolist()}
            }
            headers = {"x-request-id": f"req-{self.sent}"}
            response = await client.post(f"{self.url}/invocations", json=body, headers=headers)
            assert response.status_code == 200, response.text
            self.sent += 1
            if pause:
                await asyncio.sleep(pause)


async def test_shifted_traffic_alerts_once_per_breaching_window_across_a_restart(
    served: tuple[sm.LiveServing, str], receiver: Receiver, tmp_path: Path
) -> None:
    server, bus_url = served
    reference = tmp_path / "reference.csv"
    frame, _ = sm.training_frame(500, seed=100)
    frame.to_csv(reference, index=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    upgrade(engine)
    # Opted in to the loopback receiver, as `cnai up --webhook-allowlist 127.0.0.1` is.
    opt_in = AdmissionContext(webhook_allowlist=("127.0.0.1",))
    resources = ResourceStore(engine, {KIND: validate_monitor_spec}, admissions={KIND: admit_monitor}, context=opt_in)
    spec = {
        "target": {"model": {"name": "iris"}},
        "reference": {"file": str(reference)},
        "window": {"count": WINDOW},
        "actions": [{"webhook": {"url": receiver.url, "backoffSeconds": 0.1}}],
        "cooldownSeconds": 0,  # an alert per breaching window: what this test counts
    }
    resources.apply(Document("cnai.io/v1", KIND, "iris-drift", spec), principal=SYSTEM)
    store = MonitorStore(engine)
    registry = CollectorRegistry()

    def controller(registry: CollectorRegistry) -> MonitorController:
        options: dict[str, Any] = {"resync_interval_s": 0.2, "poll_timeout_ms": 100}
        return MonitorController(engine, resources, bus_from_url(bus_url), registry, context=opt_in, **options)

    def windows() -> list[dict[str, Any]]:
        return list(reversed(store.windows("iris-drift")))

    def buffered() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(monitor_buffer)).scalar_one())

    traffic = Traffic(server.url)
    first = controller(CollectorRegistry())
    await first.start()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await traffic.send(client, 100, shift=0.0, seed=1)  # like the reference: two quiet windows
            await await_for(lambda: len(windows()) == 2, what="two in-distribution windows")
            assert [w["breached"] for w in windows()] == [False, False]
            assert receiver.posts == []

            await traffic.send(client, 100, shift=3.0, seed=2)  # shifted: the next window must flag it
            await await_for(lambda: len(windows()) == 4, what="two shifted windows")
            await await_for(lambda: len(receiver.posts) == 2, what="two alerts")

            # Mid-stream: traffic keeps flowing while the controller stops and a new one starts.
            stream = asyncio.create_task(traffic.send(client, 200, shift=3.0, seed=3, pause=0.05))
            await await_for(lambda: buffered() > 0, what="a half-filled window")
            await first.stop()
            at_stop = len(windows())
            await stream
    finally:
        await first.stop()
    second = controller(registry)  # a new process would start with a new registry too
    await second.start()
    try:
        await await_for(lambda: len(windows()) == 8, what="all eight windows")
        await await_for(
            lambda: len(receiver.posts) == 6 and store.summary("iris-drift")["actions"]["pending"] == 0,
            what="six deliveries",
        )
    finally:
        await second.stop()
    engine.dispose()

    stored = windows()
    assert at_stop < 8  # the new controller finished what the first one had started
    assert [w["window"] for w in stored] == list(range(1, 9))
    assert all(w["rows"] == WINDOW for w in stored)  # no row lost or counted twice across the restart
    assert [w["dataset_drift"] for w in stored] == [False, False] + [True] * 6
    assert stored[2]["drift_share"] == 1.0
    assert set(stored[2]["features"]) == set(sm.FEATURES)
    expected = {f"iris-drift/{seq}/0": 1 for seq in range(3, 9)}
    assert receiver.keys() == expected  # each breach exactly once: no duplicate, none lost
    assert set(receiver.answers) == {200}
    bodies = {b["window"]: b for b in receiver.bodies()}
    assert bodies[3]["verdict"] == "drift"
    assert bodies[3]["drifted_features"] == sorted(sm.FEATURES)
    assert bodies[3]["target"] == {"model": "iris"}
    assert bodies[3]["rows"] == WINDOW
    status = resources.get(KIND, "iris-drift").status
    assert status["windows"] == 8
    assert status["breaches"] == 6
    assert status["alerts"] == {"pending": 0, "delivered": 6, "failed": 0}
    assert registry.get_sample_value("cnai_dataset_drift", {"monitor": "iris-drift"}) == 1
    score = registry.get_sample_value("cnai_feature_drift_score", {"monitor": "iris-drift", "feature": "sepal_length"})
    assert score == pytest.approx(stored[-1]["features"]["sepal_length"]["score"])
    assert np.isfinite(score)
