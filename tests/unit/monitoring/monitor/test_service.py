"""Service checks of a Monitor: error rate, latency, time to first token and tokens per window,
from LLM inference events (one per request, failures included) on a real embedded bus."""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from cnai._clock import now_ms
from cnai.events import INFERENCE_TOPIC, bus_from_url, decode
from cnai.events.cloudevents import make_event
from cnai.monitoring.monitor import ALERT_EVENT_TYPE, KIND, MonitorStore
from cnai.monitoring.monitor.rows import parse_inference, rows_of
from cnai.monitoring.monitor.service import window_stats
from cnai.resources import SYSTEM, Document
from tests.unit.monitoring.monitor.conftest import Env
from tests.unit.monitoring.monitor.receiver import await_for


def llm_event(i: int, *, status: int = 200, model: str = "chat", finish: str = "stop") -> dict[str, Any]:
    """What ``cnai serve`` logs for one chat request (content capture off: no inputs, no outputs)."""
    data: dict[str, Any] = {
        "model": model,
        "version": "2",
        "request_id": f"r{i}",
        "protocol": "openai",
        "operation": "chat",
        "status": status,
        "latency_ms": 100.0 + i,
        "stream": i % 2 == 0,
        "inputs": {},
        "outputs": {},
        "timestamp_ms": now_ms(),
    }
    if status == 200:
        data |= {
            "usage": {"prompt_tokens": 10 + i, "completion_tokens": 5, "total_tokens": 15 + i},
            "ttft_ms": 20.0 + i,
            "finish_reason": finish,
        }
    return data


def rows(events: list[dict[str, Any]]) -> list[Any]:
    out = []
    for data in events:
        inference = parse_inference(orjson.dumps(make_event("io.cnai.inference.v1", "t", data)))
        assert inference is not None
        out += rows_of(inference, [])
    return out


def test_window_stats_count_requests_errors_latency_and_tokens() -> None:
    events = [llm_event(i, finish="length" if i == 3 else "stop") for i in range(4)]
    events += [llm_event(4, status=500), llm_event(5, status=429), llm_event(6, status=400), llm_event(7, status=499)]
    stats = window_stats(rows(events))
    assert stats is not None
    assert stats["requests"] == 8
    assert stats["errors"] == 2  # 500 and 429; the caller's 400 and a disconnect (499) are not the service's
    assert stats["errorRate"] == 0.25
    assert stats["latencyP50Ms"] == 101.0  # over the four answered requests: 100, 101, 102, 103
    assert stats["latencyP99Ms"] == 103.0
    assert stats["latencyMeanMs"] == 101.5
    assert stats["ttftP95Ms"] == 23.0
    assert stats["promptTokens"] == 10 + 11 + 12 + 13
    assert stats["completionTokens"] == 20
    assert stats["totalTokens"] == 46 + 20
    assert stats["completionTokensMean"] == 5.0
    assert stats["finishReasons"] == {"stop": 3, "length": 1}
    assert stats["lengthShare"] == 0.25


def test_an_inference_event_of_a_tabular_model_counts_as_one_request() -> None:
    data = {
        "model": "iris",
        "version": "1",
        "request_id": "x",
        "protocol": "oip",
        "inputs": {"a": [1.0, 2.0, 3.0]},
        "outputs": {"predict": [0, 1, 0]},
        "latency_ms": 2.5,
        "timestamp_ms": now_ms(),
    }
    stats = window_stats(rows([data]))
    assert stats is not None
    assert (stats["requests"], stats["errors"], stats["latencyP50Ms"]) == (1, 0, 2.5)
    assert "promptTokens" not in stats


async def produce(env: Env, events: list[dict[str, Any]]) -> None:
    async with bus_from_url(env.bus_url) as bus:
        items = [(e["model"].encode(), orjson.dumps(make_event("io.cnai.inference.v1", "t", e))) for e in events]
        await bus.produce_many(INFERENCE_TOPIC, items)


async def test_a_monitor_without_reference_alerts_on_the_error_rate_of_an_llm(env: Env) -> None:
    spec = {
        "target": {"deployment": "chat"},
        "window": {"count": 10},
        "tests": {"service": {"minRequests": 10, "thresholds": {"errorRate": 0.2, "latencyP95Ms": 1000}}},
        "actions": [{"alert": {"topic": "llm-alerts"}}],
        "cooldownSeconds": 0,
    }
    env.resources.apply(Document("cnai.io/v1", KIND, "chat-slo", spec), principal=SYSTEM)
    registry = CollectorRegistry()
    controller = env.controller(registry)
    await controller.start()
    try:
        healthy = [llm_event(i) for i in range(10)]
        failing = [llm_event(10 + i, status=500 if i < 3 else 200) for i in range(10)]
        await produce(env, healthy + failing + [llm_event(99, model="other")])
        store = MonitorStore(env.engine)
        await await_for(lambda: len(store.windows("chat-slo")) == 2, what="two windows")
        await await_for(lambda: store.actions("chat-slo"), what="an alert")
    finally:
        await controller.stop()
    second, first = store.windows("chat-slo")
    assert (first["breached"], first["service"]["errorRate"], first["service"]["breached"]) == (False, 0.0, [])
    assert first["service"]["promptTokens"] == sum(10 + i for i in range(10))
    assert (second["breached"], second["verdict"], second["service"]["breached"]) == (True, "service", ["errorRate"])
    assert second["service"]["errorRate"] == 0.3
    async with bus_from_url(env.bus_url) as bus, bus.consumer(["llm-alerts"], group="t") as consumer:
        [alert] = [decode(r.value) for r in await consumer.poll(timeout_ms=10_000)]  # returns as soon as it arrives
    assert alert["type"] == ALERT_EVENT_TYPE
    assert alert["data"]["verdict"] == "service"
    assert alert["data"]["service"]["errorRate"] == 0.3
    status = env.resources.get(KIND, "chat-slo").status
    assert status["phase"] == "Ready"
    assert status["lastWindow"]["service"]["requests"] == 10
    assert status["lastWindow"]["service"]["completionTokens"] == 7 * 5
    sample = registry.get_sample_value
    assert sample("cnai_monitor_service", {"monitor": "chat-slo", "metric": "errorRate"}) == 0.3
    assert sample("cnai_monitor_breaches_total", {"monitor": "chat-slo"}) == 1
    # A restarted controller knows the incident is open: the next breaching window is the same incident.
    assert store.incident("chat-slo")[0] is True
