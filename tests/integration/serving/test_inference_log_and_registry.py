"""The inference log reaches the event bus as CloudEvents; registry URIs resolve against a live
control plane (`cnai server`) through the stock mlflow client."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import mlflow
import pytest

from cnai.events import INFERENCE_EVENT_TYPE, INFERENCE_TOPIC, bus_from_url, decode
from cnai.serving.settings import ServeSettings
from cnai.settings import Settings
from tests.fixtures import serving_models as sm
from tests.fixtures.servers import start_live_server

pytestmark = pytest.mark.integration


async def _read_events(url: str, want: int) -> list[dict]:
    events: list[dict] = []
    async with bus_from_url(url) as bus, bus.consumer([INFERENCE_TOPIC], group="test") as consumer:
        deadline = time.monotonic() + 20
        while len(events) < want and time.monotonic() < deadline:
            events += [decode(r.value) for r in await consumer.poll(timeout_ms=200)]
    return events


def test_inference_events_written(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    bus_url = f"sqlite:///{tmp_path / 'events.db'}"
    settings = ServeSettings(models=[f"lr={model_dirs['lr']}"], home=tmp_path, event_bus=bus_url)
    server = sm.start_serving(settings)
    try:
        cols = [{"name": f, "shape": [2], "datatype": "FP64", "data": [0.5, -0.5]} for f in sm.FEATURES]
        r = httpx.post(f"{server.url}/v2/models/lr/infer", json={"id": "oip-1", "inputs": cols})
        assert r.status_code == 200
        r = httpx.post(
            f"{server.url}/invocations",
            json={"dataframe_split": {"columns": sm.FEATURES, "data": [[1, 2, 3, 4]]}},
            headers={"x-request-id": "inv-1"},
        )
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "inv-1"
    finally:
        server.stop()  # drains the log
    events = asyncio.run(_read_events(bus_url, 2))
    by_id = {e["data"]["request_id"]: e for e in events}
    assert set(by_id) == {"oip-1", "inv-1"}
    oip = by_id["oip-1"]
    assert oip["type"] == INFERENCE_EVENT_TYPE
    assert oip["specversion"] == "1.0"
    assert oip["data"]["model"] == "lr"
    assert oip["data"]["version"] == "1"
    assert oip["data"]["inputs"]["sepal_length"] == [0.5, -0.5]
    assert len(oip["data"]["outputs"]["predict"]) == 2
    assert oip["data"]["latency_ms"] >= 0
    assert by_id["inv-1"]["data"]["inputs"]["petal_width"] == [4.0]


def test_full_log_buffer_drops_and_counts(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    bus_url = f"sqlite:///{tmp_path / 'events.db'}"
    settings = ServeSettings(models=[f"lr={model_dirs['lr']}"], home=tmp_path, event_bus=bus_url, log_queue_size=1)
    server = sm.start_serving(settings)
    try:
        logger = server.app.inference_logger
        assert logger is not None
        # Stall the writer so the one-slot buffer fills: requests must still succeed.
        original = logger.bus.produce_many

        async def slow(topic: str, items: list) -> None:
            await asyncio.sleep(0.5)
            await original(topic, items)

        logger.bus.produce_many = slow
        row = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
        codes = [httpx.post(f"{server.url}/v2/models/lr/infer", json=row).status_code for _ in range(10)]
        assert codes == [200] * 10
        metrics = httpx.get(f"{server.url}/metrics").text
        dropped = next(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("cnai_serving_inference_log_dropped_total")
        )
        assert dropped >= 1
    finally:
        server.stop()


def test_registry_uris_resolve_against_control_plane(tmp_path: Path) -> None:
    plane = start_live_server(Settings(home=tmp_path / "plane"))
    try:
        from sklearn.linear_model import LogisticRegression

        mlflow.set_tracking_uri(plane.url)
        x, y = sm.training_frame(n=60)
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                LogisticRegression().fit(x, y),
                name="model",
                input_example=x.head(2),
                registered_model_name="iris-lr",
                pip_requirements=["scikit-learn"],
            )
        client = mlflow.MlflowClient(plane.url)
        client.set_registered_model_alias("iris-lr", "champion", "1")
        settings = ServeSettings(
            models=["models:/iris-lr@champion", "pinned=models:/iris-lr/1"],
            home=tmp_path / "serve",
            tracking_uri=plane.url,
            inference_log=False,
        )
        server = sm.start_serving(settings)
        try:
            expected = mlflow.pyfunc.load_model(info.model_uri).predict(x.head(5)).tolist()
            for name in ("iris-lr", "pinned"):
                meta = httpx.get(f"{server.url}/v2/models/{name}").json()
                assert meta["versions"] == ["1"]
                body = {
                    "inputs": [
                        {
                            "name": "x",
                            "shape": [5, 4],
                            "datatype": "FP64",
                            "data": x.head(5).to_numpy().ravel().tolist(),
                        }
                    ]
                }
                r = httpx.post(f"{server.url}/v2/models/{name}/versions/1/infer", json=body)
                assert r.status_code == 200, r.text
                assert r.json()["outputs"][0]["data"] == expected
        finally:
            server.stop()
    finally:
        mlflow.set_tracking_uri(None)
        plane.stop()
