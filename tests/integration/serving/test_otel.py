"""OpenTelemetry: with an OTLP endpoint configured, every request becomes a server span that a real
OTLP/HTTP receiver gets, joined to the caller's trace when the request carries ``traceparent``."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.serving.settings import ServeSettings
from tests.fixtures import serving_models as sm
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration
trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Collector:
    """An OTLP/HTTP trace receiver: decodes each protobuf export request and keeps its spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, object]] = []
        self.port = free_port()
        app = Starlette(routes=[Route("/v1/traces", self._export, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _export(self, request: Request) -> Response:
        message = trace_service.ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        for resource_spans in message.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
                    self.spans.append(
                        {
                            "service": service,
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "parent_id": span.parent_span_id.hex(),
                            "attributes": attributes,
                        }
                    )
        return Response(
            trace_service.ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf"
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.stop()


def test_requests_become_spans_at_the_otlp_endpoint(
    collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export within 50 ms instead of 5 s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = sm.save_logistic(tmp_path / "model")
    settings = ServeSettings(models=[f"iris={model}"], home=tmp_path, inference_log=False, otel_endpoint=collector.url)
    server = sm.start_serving(settings)
    try:
        body = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [0.5]} for f in sm.FEATURES]}
        traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
        ok = httpx.post(
            f"{server.url}/v2/models/iris/infer", json=body, headers={"traceparent": traceparent, "x-request-id": "r-1"}
        )
        assert ok.status_code == 200
        missing = httpx.post(f"{server.url}/v2/models/nope/infer", json=body)
        assert missing.status_code == 404
        deadline = time.monotonic() + 20
        while len(collector.spans) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    by_name = {span["name"]: span for span in collector.spans}
    infer = by_name["POST /v2/models/iris/infer"]
    assert infer["service"] == "cnai-serve"
    assert (infer["trace_id"], infer["parent_id"]) == (TRACE_ID, PARENT_ID)  # joined the caller's trace
    assert infer["attributes"] == {
        "http.request.method": "POST",
        "url.path": "/v2/models/iris/infer",
        "http.response.status_code": 200,
        "cnai.model": "iris",
        "cnai.model_version": "1",
        "cnai.request_id": "r-1",
    }
    assert by_name["POST /v2/models/nope/infer"]["attributes"]["http.response.status_code"] == 404
