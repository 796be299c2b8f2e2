"""Prometheus metrics per model and version, request ids echoed, JSON access log lines."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from tests.fixtures import serving_models as sm
from tests.integration.serving.conftest import serve_settings

pytestmark = pytest.mark.integration

ROW = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}


def _value(metrics: str, prefix: str) -> float:
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(prefix))


def test_metrics_and_access_log(model_dirs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cnai.serving.access")
    server = sm.start_serving(serve_settings(tmp_path, {"lr": model_dirs["lr"]}, access_log=True, inference_log=False))
    logging.getLogger("cnai.serving.access").propagate = True  # let caplog see the lines

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url) as client:
            rs = await asyncio.gather(*(client.post("/v2/models/lr/infer", json=ROW) for _ in range(30)))
            return [r.status_code for r in rs]

    try:
        assert asyncio.run(burst()) == [200] * 30
        r = httpx.post(f"{server.url}/v2/models/lr/infer", json={**ROW, "id": "oip-id"})
        assert r.json()["id"] == "oip-id"
        assert r.headers["x-request-id"] == "oip-id"
        r = httpx.post(f"{server.url}/v2/models/lr/infer", json=ROW, headers={"x-request-id": "hdr-id"})
        assert r.headers["x-request-id"] == "hdr-id"
        assert httpx.post(f"{server.url}/v2/models/lr/infer", json={"inputs": []}).status_code == 400
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    ok = 'cnai_serving_requests_total{code="200",model="lr",protocol="oip",version="1"}'
    assert _value(metrics, ok) == 32
    assert _value(metrics, 'cnai_serving_errors_total{code="400",model="lr"}') == 1
    assert _value(metrics, 'cnai_serving_request_duration_seconds_count{model="lr",version="1"}') == 32
    assert _value(metrics, 'cnai_serving_batch_size_sum{model="lr"}') == 32  # every row predicted once
    assert _value(metrics, 'cnai_serving_batch_size_count{model="lr"}') <= 32
    assert 'cnai_serving_queue_depth{model="lr"}' in metrics
    assert "cnai_serving_in_flight" in metrics
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "cnai.serving.access"]
    assert any(line["request_id"] == "hdr-id" and line["status"] == 200 for line in lines)
    assert {line["path"] for line in lines} >= {"/v2/models/lr/infer", "/metrics"}
