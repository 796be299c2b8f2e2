"""tests.promptDrift: a Monitor embeds each window's prompts with an embeddings Deployment (found by
name, reached on loopback) and judges their drift from a reference of prompts.

The embeddings Deployment here is a stand-in on loopback that answers ``/v1/embeddings`` with
bag-of-words vectors (words hashed into 32 dimensions, normalised): prompts sharing words land
near each other, as a sentence model's do. The real ``cnai serve`` with all-MiniLM-L6-v2 under
``cnai up`` is tests/integration/llm/test_prompt_drift.py. The bus, database, controller, alert
and API are the real ones.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cnai._clock import now_ms
from cnai.deploy.specs import KIND as DEPLOYMENT
from cnai.deploy.specs import validate_deployment_spec
from cnai.errors import InvalidArgument, InvalidState
from cnai.events import INFERENCE_TOPIC, bus_from_url, decode
from cnai.events.cloudevents import make_event
from cnai.monitoring.monitor import ALERT_EVENT_TYPE, KIND, MonitorStore, admit_monitor, validate_monitor_spec
from cnai.monitoring.monitor.prompts import EmbeddingsClient
from cnai.resources import SYSTEM, Document, ResourceStore
from cnai.resources import api as resources_api
from tests.unit.monitoring.monitor.conftest import OPT_IN, Env
from tests.unit.monitoring.monitor.receiver import await_for

DIMS = 32
COOKING = [
    "how long should I bake {} bread",
    "what spices go well with roasted {}",
    "how do I cook {} in a pan",
    "a quick recipe with {} and garlic",
    "how much salt for boiled {}",
]
FOODS = ["potato", "chicken", "rice", "carrot", "salmon", "onion", "pasta", "tomato"]
SPACE = [
    "how far is the planet {} from the sun",
    "which telescope shows the rings of {}",
    "how many moons orbit {}",
    "when is {} visible in the night sky",
]
PLANETS = ["mars", "jupiter", "saturn", "venus", "neptune"]


def cooking(n: int, offset: int = 0) -> list[str]:
    return [COOKING[(i + offset) % len(COOKING)].format(FOODS[(i * 3 + offset) % len(FOODS)]) for i in range(n)]


def space(n: int) -> list[str]:
    return [SPACE[i % len(SPACE)].format(PLANETS[(i * 2) % len(PLANETS)]) for i in range(n)]


def bag_of_words(text: str) -> list[float]:
    vector = np.zeros(DIMS)
    for word in re.findall(r"[a-z]+", text.lower()):
        vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % DIMS] += 1.0
    return (vector / max(np.linalg.norm(vector), 1e-9)).tolist()


class Embedder:
    """``POST /v1/embeddings`` as cnai's router answers it (``x-cnai-model-version`` included)."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.version = "1"
        self.status = 200
        embedder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                embedder.requests.append(list(body["input"]))
                if embedder.status != 200:
                    answer = {"error": {"message": "model is loading", "type": "server_error"}}
                else:
                    answer = {
                        "object": "list",
                        "model": body["model"],
                        "data": [
                            {"object": "embedding", "index": i, "embedding": bag_of_words(t)}
                            for i, t in enumerate(body["input"])
                        ],
                    }
                raw = orjson.dumps(answer)
                self.send_response(embedder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("x-cnai-model-version", embedder.version)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def embedder() -> Iterator[Embedder]:
    served = Embedder()
    yield served
    served.close()


@pytest.fixture
def plane(env: Env) -> Env:
    """The env's database with both kinds, as the control plane knows them."""
    env.resources = ResourceStore(
        env.engine,
        {KIND: validate_monitor_spec, DEPLOYMENT: validate_deployment_spec},
        admissions={KIND: admit_monitor},
        context=OPT_IN,
    )
    return env


def deploy(env: Env, name: str, *, port: int | None = None, capture: bool = False, url: str | None = None) -> None:
    """A Deployment as the deployment controller leaves it: spec, and the router in its status."""
    spec = {"model": "models:/m@champion", "llm": {"captureContent": capture}}
    env.resources.apply(Document("cnai.io/v1", DEPLOYMENT, name, spec), principal=SYSTEM)
    if port is not None:
        status = {"phase": "Ready", "port": port, "url": url or f"http://127.0.0.1:{port}"}
        env.resources.set_status(DEPLOYMENT, name, status, 1)


def reference_file(env: Env, prompts: list[str], column: str = "prompt") -> str:
    path = env.tmp / "prompts.csv"
    pd.DataFrame({column: prompts, "other": range(len(prompts))}).to_csv(path, index=False)
    return str(path)


def monitor_spec(env: Env, **prompt_drift: Any) -> dict[str, Any]:
    return {
        "target": {"deployment": "chat"},
        "window": {"count": 20},
        "tests": {
            "promptDrift": {
                "embeddings": "mini",
                "reference": {"file": reference_file(env, cooking(60))},
                **prompt_drift,
            }
        },
        "actions": [{"alert": {"topic": "prompt-alerts"}}],
        "cooldownSeconds": 0,
    }


def chat_event(i: int, prompt: str | None, model: str = "chat") -> bytes:
    """What a replica with ``--llm-capture-content`` logs for a chat request (no prompt without it)."""
    data: dict[str, Any] = {
        "model": model,
        "version": "1",
        "request_id": f"r{i}",
        "protocol": "openai",
        "operation": "chat",
        "status": 200,
        "latency_ms": 50.0,
        "ttft_ms": 10.0,
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        "finish_reason": "stop",
        "inputs": {"prompt": [prompt]} if prompt is not None else {},
        "outputs": {"completion": ["ok"]} if prompt is not None else {},
        "timestamp_ms": now_ms(),
    }
    return orjson.dumps(make_event("io.cnai.inference.v1", "test", data))


async def produce(env: Env, prompts: list[str | None], start: int = 0) -> None:
    async with bus_from_url(env.bus_url) as bus:
        await bus.produce_many(INFERENCE_TOPIC, [(b"chat", chat_event(start + i, p)) for i, p in enumerate(prompts)])


# --- spec and admission ---------------------------------------------------------------------------


def test_the_spec_names_a_deployment_and_a_reference_of_prompts(env: Env) -> None:
    spec = validate_monitor_spec(monitor_spec(env))
    prompts = spec["tests"]["promptDrift"]
    assert (prompts["method"], prompts["minPrompts"], prompts["reference"]["column"]) == ("model", 10, "prompt")
    assert "reference" not in spec  # no feature drift: promptDrift alone is a monitor

    def refused(**prompt_drift: Any) -> str:
        base = monitor_spec(env)
        base["tests"]["promptDrift"].update(prompt_drift)
        with pytest.raises(InvalidArgument) as info:
            validate_monitor_spec(base)
        return info.value.message

    assert "not a Deployment name" in refused(embeddings="http://169.254.169.254/latest")
    assert "never a URL" in refused(embeddings="127.0.0.1:8001")
    assert "tests.promptDrift.method" in refused(method="umap")
    assert "distance applies to method distance" in refused(distance="cosine")
    assert "componentMethod" in refused(method="model", componentMethod="ks")
    assert "Unknown drift test 'nope'" in refused(method="ratio", componentMethod="nope")
    assert "bootstrap applies to model, distance, mmd" in refused(method="ratio", bootstrap=True)
    assert "tests.promptDrift.minPrompts" in refused(minPrompts=1)
    assert "must be a CSV or Parquet file" in refused(reference={"file": "/etc/passwd"})
    assert "tests.promptDrift.reference" in refused(reference={"url": "http://x/prompts.csv"})
    without = {"target": {"deployment": "chat"}, "window": {"count": 5}}
    with pytest.raises(InvalidArgument, match=r"tests\.service or tests\.promptDrift"):
        validate_monitor_spec(without)


def test_apply_refuses_prompt_drift_on_a_deployment_that_does_not_log_prompts(plane: Env) -> None:
    deploy(plane, "chat", capture=False)
    app = TestClient(Starlette(routes=resources_api.routes(plane.resources)))
    doc = {"apiVersion": "cnai.io/v1", "kind": KIND, "metadata": {"name": "prompts"}, "spec": monitor_spec(plane)}
    refused = app.put("/api/v1/resources/monitors/prompts", json=doc)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "INVALID_PARAMETER_VALUE"
    assert "llm.captureContent: true" in refused.json()["error"]
    assert app.get("/api/v1/resources/monitors/prompts").status_code == 404  # nothing written
    deploy(plane, "chat", capture=True)
    assert app.put("/api/v1/resources/monitors/prompts", json=doc).status_code == 201


def test_the_embeddings_router_is_taken_from_the_deployment_status_and_only_on_loopback(
    plane: Env, embedder: Embedder
) -> None:
    client = EmbeddingsClient(plane.resources)
    try:
        with pytest.raises(InvalidState, match="does not exist"):
            client.endpoint("mini")
        deploy(plane, "mini")
        with pytest.raises(InvalidState, match="has no router yet"):
            client.endpoint("mini")
        deploy(plane, "mini", port=embedder.port, url=f"http://10.1.2.3:{embedder.port}")
        with pytest.raises(InvalidState, match="not on this machine's loopback"):
            client.endpoint("mini")
        deploy(plane, "mini", port=embedder.port, url=f"http://0.0.0.0:{embedder.port}")
        assert client.endpoint("mini") == (f"http://127.0.0.1:{embedder.port}/v1/embeddings", "mini")
        vectors, version = client.embed("mini", cooking(70))
        assert (vectors.shape, version) == ((70, DIMS), "1")
        assert [len(r) for r in embedder.requests] == [64, 6]  # batched
    finally:
        client.close()


# --- the controller ---------------------------------------------------------------------------------


async def test_prompts_on_another_topic_drift_breach_and_alert(plane: Env, embedder: Embedder) -> None:
    deploy(plane, "chat", capture=True)
    deploy(plane, "mini", port=embedder.port)
    plane.resources.apply(
        Document("cnai.io/v1", KIND, "prompts", monitor_spec(plane, method="distance")), principal=SYSTEM
    )
    registry = CollectorRegistry()
    controller = plane.controller(registry)
    await controller.start()
    store = MonitorStore(plane.engine)
    try:
        await produce(plane, list(cooking(20, offset=1)))
        await await_for(lambda: len(store.windows("prompts")) == 1, what="the first window")
        await produce(plane, list(space(20)), start=20)
        await await_for(lambda: len(store.windows("prompts")) == 2, what="the second window")
        await await_for(lambda: [a for a in store.actions("prompts") if a["status"] == "delivered"], what="an alert")
    finally:
        await controller.stop()
    second, first = store.windows("prompts")
    same = first["prompt_drift"]
    assert (first["breached"], same["drifted"], same["prompts"], same["referencePrompts"]) == (False, False, 20, 60)
    assert (same["method"], same["threshold"], same["modelVersion"]) == ("distance", 0.2, "1")
    other = second["prompt_drift"]
    assert (second["breached"], second["verdict"], other["drifted"]) == (True, "promptDrift", True)
    assert other["score"] > 0.2 > same["score"]
    # The reference was embedded once: one batch of 60, then one batch per window.
    assert [len(r) for r in embedder.requests] == [20, 60, 20]
    async with bus_from_url(plane.bus_url) as bus, bus.consumer(["prompt-alerts"], group="t") as consumer:
        [alert] = [decode(r.value) for r in await consumer.poll(timeout_ms=10_000)]  # returns as soon as it arrives
    assert alert["type"] == ALERT_EVENT_TYPE
    assert (alert["data"]["verdict"], alert["data"]["prompt_drift"]["score"]) == ("promptDrift", other["score"])
    status = plane.resources.get(KIND, "prompts").status
    assert status["lastWindow"]["promptDrift"]["drifted"] is True
    sample = registry.get_sample_value
    assert sample("cnai_monitor_prompt_drift_score", {"monitor": "prompts", "method": "distance"}) == other["score"]
    assert sample("cnai_monitor_prompt_drift", {"monitor": "prompts"}) == 1
    assert store.incident("prompts")[0] is True  # a restarted controller continues the incident


async def test_a_window_without_prompts_says_content_capture_is_off(plane: Env, embedder: Embedder) -> None:
    deploy(plane, "mini", port=embedder.port)
    plane.resources.apply(Document("cnai.io/v1", KIND, "prompts", monitor_spec(plane)), principal=SYSTEM)
    controller = plane.controller()
    await controller.start()
    store = MonitorStore(plane.engine)
    try:
        await produce(plane, [None] * 20)
        await await_for(lambda: len(store.windows("prompts")) == 1, what="a window")
    finally:
        await controller.stop()
    [window] = store.windows("prompts")
    result = window["prompt_drift"]
    assert (window["breached"], result["prompts"], result["drifted"]) == (False, 0, False)
    assert "none of the window's 20 request(s) carries its prompt" in result["error"]
    assert "llm.captureContent: true" in result["error"]
    assert embedder.requests == []


async def test_an_embeddings_failure_is_the_windows_error_not_a_breach(plane: Env, embedder: Embedder) -> None:
    deploy(plane, "mini", port=embedder.port)
    embedder.status = 503
    plane.resources.apply(Document("cnai.io/v1", KIND, "prompts", monitor_spec(plane)), principal=SYSTEM)
    registry = CollectorRegistry()
    controller = plane.controller(registry)
    await controller.start()
    store = MonitorStore(plane.engine)
    try:
        await produce(plane, list(space(20)))
        await await_for(lambda: len(store.windows("prompts")) == 1, what="a window")
        embedder.status = 200
        embedder.version = "2"
        await produce(plane, list(space(20)), start=20)
        await await_for(lambda: len(store.windows("prompts")) == 2, what="a second window")
    finally:
        await controller.stop()
    second, first = store.windows("prompts")
    assert first["breached"] is False
    assert first["prompt_drift"]["error"] == "embeddings deployment 'mini' answered 503: model is loading"
    assert second["breached"] is True
    assert (second["prompt_drift"]["modelVersion"], second["prompt_drift"]["bootstrap"]) == ("2", True)
    assert store.actions("prompts")


async def test_too_few_prompts_are_not_judged(plane: Env, embedder: Embedder) -> None:
    deploy(plane, "mini", port=embedder.port)
    spec = monitor_spec(plane, minPrompts=15)
    plane.resources.apply(Document("cnai.io/v1", KIND, "prompts", spec), principal=SYSTEM)
    controller = plane.controller()
    await controller.start()
    store = MonitorStore(plane.engine)
    try:
        await produce(plane, [*space(10), *([None] * 10)])
        await await_for(lambda: len(store.windows("prompts")) == 1, what="a window")
    finally:
        await controller.stop()
    [window] = store.windows("prompts")
    assert window["prompt_drift"]["skipped"] == "10 prompt(s), fewer than minPrompts (15)"
    assert window["breached"] is False


async def test_a_reference_without_the_column_puts_the_monitor_in_error(plane: Env) -> None:
    spec = monitor_spec(plane)
    spec["tests"]["promptDrift"]["reference"]["column"] = "question"
    plane.resources.apply(Document("cnai.io/v1", KIND, "prompts", spec), principal=SYSTEM)
    controller = plane.controller()
    await controller.start()
    try:
        await await_for(
            lambda: plane.resources.get(KIND, "prompts").status.get("phase") == "Error", what="the Error phase"
        )
    finally:
        await controller.stop()
    assert "has no column 'question'" in plane.resources.get(KIND, "prompts").status["message"]


def test_the_windows_api_returns_the_prompt_drift(plane: Env) -> None:
    from cnai.monitoring.monitor.api import monitor_routes
    from cnai.monitoring.monitor.evaluate import WindowVerdict
    from cnai.monitoring.monitor.store import Batch, ClosedWindow

    result = {"embeddings": "mini", "method": "mmd", "prompts": 12, "score": 0.03, "threshold": 0.015, "drifted": True}
    verdict = WindowVerdict(12, 1, 2, 0.0, False, {}, {}, prompt_drift=result)
    MonitorStore(plane.engine).write_batch(
        "g", Batch(windows=[ClosedWindow("m", 1, 1, verdict, True, [], [], "promptDrift")]), now=5
    )
    app = TestClient(Starlette(routes=monitor_routes(plane.engine)))
    [window] = app.get("/api/v1/monitors/m/windows").json()["windows"]
    assert (window["verdict"], window["prompt_drift"]) == ("promptDrift", result)


def test_the_example_is_valid_and_its_reference_holds_prompts() -> None:
    import yaml

    from cnai.monitoring.io import open_table
    from cnai.monitoring.monitor.prompts import reference_prompts
    from cnai.monitoring.monitor.spec import parse_monitor_spec

    root = __import__("pathlib").Path(__file__).resolve().parents[4]
    docs = list(yaml.safe_load_all((root / "examples/prompt-drift/prompt-drift.yaml").read_text()))
    validators = {DEPLOYMENT: validate_deployment_spec, KIND: validate_monitor_spec}
    assert [d["kind"] for d in docs] == [DEPLOYMENT, DEPLOYMENT, KIND]
    for doc in docs:
        validators[doc["kind"]](doc["spec"])
    assert docs[0]["spec"]["llm"]["captureContent"] is True
    prompt_drift = parse_monitor_spec(docs[2]["spec"]).tests.prompt_drift
    assert prompt_drift is not None
    assert prompt_drift.embeddings == docs[1]["metadata"]["name"]
    texts = reference_prompts(open_table(root / str(prompt_drift.reference.file)), prompt_drift.reference.column)
    assert len(texts) == 72


def test_long_prompts_are_cut_to_what_the_embedding_reads_before_they_are_buffered() -> None:
    from cnai.monitoring.monitor.prompts import MAX_PROMPT_CHARS, clip_prompts, window_prompts
    from cnai.monitoring.monitor.rows import parse_inference, rows_of

    inference = parse_inference(chat_event(1, "spices " * 2000))
    assert inference is not None
    [row] = clip_prompts(rows_of(inference, ["prompt"]))
    assert len(row.values["prompt"]) == MAX_PROMPT_CHARS
    assert row.service is not None  # the request still counts for the service statistics
    assert window_prompts([row]) == ([row.values["prompt"]], 1)
