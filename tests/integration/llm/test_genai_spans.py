"""With an OTLP endpoint set, each OpenAI request is a server span with the GenAI semantic
conventions, received by a real OTLP/HTTP receiver, joined to the caller's trace."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.integration.llm.conftest import auth, smollm_gguf, start_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("opentelemetry.sdk")
otel_test = pytest.importorskip("tests.integration.serving.test_otel")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind)


class GenAICollector(otel_test.Collector):  # type: ignore[misc,name-defined]
    """The serving tests' OTLP/HTTP receiver, keeping array attributes (finish_reasons) whole."""

    async def _export(self, request: Any) -> Any:
        message = otel_test.trace_service.ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        for rs in message.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attributes = {a.key: value(a.value) for a in span.attributes}
                    self.spans.append({"name": span.name, "trace_id": span.trace_id.hex(), "attributes": attributes})
        response = otel_test.trace_service.ExportTraceServiceResponse().SerializeToString()
        return otel_test.Response(response, media_type="application/x-protobuf")


def test_chat_span_has_genai_attributes(tmp_path: Any) -> None:
    collector = GenAICollector()
    received = collector.spans
    served = start_serve(
        [f"smol={smollm_gguf()}"],
        tmp_path,
        "--llm-context",
        "512",
        env_extra={"CNAI_SERVE_OTEL_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50"},
    )
    try:
        body = {"model": "smol", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5, "temperature": 0}
        headers = {**auth(), "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        resp = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers=headers, timeout=120)
        assert resp.status_code == 200, resp.text
        usage = resp.json()["usage"]
        deadline = time.monotonic() + 30
        while not any(s["name"] == "chat smol" for s in received) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        served.stop()
        collector.stop()
    span = next(s for s in received if s["name"] == "chat smol")
    assert span["trace_id"] == TRACE_ID
    attrs = span["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "smol"
    assert attrs["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert attrs["gen_ai.response.finish_reasons"] == [resp.json()["choices"][0]["finish_reason"]]
    assert attrs["http.response.status_code"] == 200
