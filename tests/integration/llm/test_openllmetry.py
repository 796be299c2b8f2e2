"""An OpenLLMetry-instrumented ``openai`` client (``opentelemetry-instrumentation-openai``) sees the
token usage of streamed calls against ``cnai serve``: cnai sends the ``include_usage`` chunk, which
is where OpenLLMetry reads ``gen_ai.usage.*`` on streams (servers that ignore the option leave the
client's spans without usage)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.llm.conftest import TOKEN, Served

pytestmark = [pytest.mark.integration, pytest.mark.slow]

openai = pytest.importorskip("openai")
instrumentation = pytest.importorskip(
    "opentelemetry.instrumentation.openai", reason="pip install opentelemetry-instrumentation-openai"
)
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


@pytest.fixture(scope="module")
def instrumented() -> Iterator[InMemorySpanExporter]:
    """Instrumented once per module: the instrumentation keeps the tracer of its first provider."""
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = instrumentation.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()  # the other modules' clients stay plain
        provider.shutdown()


@pytest.fixture
def spans(instrumented: InMemorySpanExporter) -> InMemorySpanExporter:
    instrumented.clear()
    return instrumented


def finished(exporter: InMemorySpanExporter, name: str) -> Any:
    found = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


def test_streamed_chat_span_carries_usage(llm: Served, spans: InMemorySpanExporter) -> None:
    client = openai.OpenAI(base_url=f"{llm.url}/v1", api_key=TOKEN, max_retries=0, timeout=120)
    stream = client.chat.completions.create(
        model="smol",
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [c.usage for c in stream if c.usage is not None]
    assert len(usage) == 1
    attrs = finished(spans, "openai.chat").attributes
    assert attrs["gen_ai.usage.input_tokens"] == usage[0].prompt_tokens > 0
    assert attrs["gen_ai.usage.output_tokens"] == usage[0].completion_tokens > 0
    assert attrs["gen_ai.request.model"] == "smol"


def test_streamed_completion_span_carries_usage(llm: Served, spans: InMemorySpanExporter) -> None:
    client = openai.OpenAI(base_url=f"{llm.url}/v1", api_key=TOKEN, max_retries=0, timeout=120)
    stream = client.completions.create(
        model="smol",
        prompt="Once upon a time",
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [c.usage for c in stream if c.usage is not None]
    assert len(usage) == 1
    attrs = finished(spans, "openai.completion").attributes
    assert attrs["gen_ai.usage.input_tokens"] == usage[0].prompt_tokens > 0
    assert attrs["gen_ai.usage.output_tokens"] == usage[0].completion_tokens == 6


def test_without_include_usage_the_span_has_none(llm: Served, spans: InMemorySpanExporter) -> None:
    """The contrast that makes the two tests above mean something: no usage chunk, no usage."""
    client = openai.OpenAI(base_url=f"{llm.url}/v1", api_key=TOKEN, max_retries=0, timeout=120)
    stream = client.chat.completions.create(
        model="smol", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0, stream=True
    )
    assert all(c.usage is None for c in stream)
    attrs = finished(spans, "openai.chat").attributes
    assert "gen_ai.usage.input_tokens" not in attrs
