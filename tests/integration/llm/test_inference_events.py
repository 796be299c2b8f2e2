"""Every OpenAI request to a served model becomes an inference event on the bus, failures
included, with status, latency, TTFT, token counts and finish reason, and message content only
when the server was started with ``--llm-capture-content``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cnai.events import INFERENCE_TOPIC, bus_from_url, decode
from tests.integration.llm.conftest import auth, smollm_gguf, start_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHAT = {"model": "smol", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 6}


def events(home: Path, want: int) -> list[dict[str, Any]]:
    """The inference events the server wrote (it flushes its log every 50 ms)."""

    async def read() -> list[dict[str, Any]]:
        async with bus_from_url(f"sqlite:///{home / 'events.db'}") as bus:
            async with bus.consumer([INFERENCE_TOPIC], group=f"t-{time.monotonic_ns()}") as consumer:
                out: list[dict[str, Any]] = []
                deadline = time.monotonic() + 20
                while len(out) < want and time.monotonic() < deadline:
                    out += [decode(r.value)["data"] for r in await consumer.poll(timeout_ms=500)]
                return out

    return asyncio.run(read())


def test_requests_become_events_without_content_by_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    served = start_serve([f"smol={smollm_gguf()}"], home, "--llm-context", "256", inference_log=True)
    try:
        ok = httpx.post(f"{served.url}/v1/chat/completions", json=CHAT, headers=auth(), timeout=60)
        assert ok.status_code == 200, ok.text
        streamed = httpx.post(
            f"{served.url}/v1/completions",
            json={"model": "smol", "prompt": "One, two,", "max_tokens": 4, "stream": True},
            headers={**auth(), "x-request-id": "mine-1"},
            timeout=60,
        )
        assert streamed.status_code == 200
        too_long = {**CHAT, "messages": [{"role": "user", "content": "word " * 400}]}
        refused = httpx.post(f"{served.url}/v1/chat/completions", json=too_long, headers=auth(), timeout=60)
        assert refused.status_code == 400
        unknown = httpx.post(f"{served.url}/v1/chat/completions", json={**CHAT, "model": "x"}, headers=auth())
        assert unknown.status_code == 404
        got = events(home, 3)
    finally:
        served.stop()
    assert len(got) == 3  # the unknown model's request names nothing served: no event
    chat, completion, failed = sorted(got, key=lambda e: e["timestamp_ms"])
    usage = ok.json()["usage"]
    assert chat["model"] == "smol"
    assert chat["version"] == "1"
    assert chat["protocol"] == "openai"
    assert chat["operation"] == "chat"
    assert chat["status"] == 200
    assert chat["stream"] is False
    assert chat["usage"] == {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert chat["finish_reason"] == ok.json()["choices"][0]["finish_reason"]
    assert 0 < chat["ttft_ms"] <= chat["latency_ms"]
    assert (chat["inputs"], chat["outputs"]) == ({}, {})  # no content unless captured
    assert completion["request_id"] == "mine-1"
    assert completion["operation"] == "text_completion"
    assert completion["stream"] is True
    assert completion["usage"]["completion_tokens"] == 4
    assert failed["status"] == 400
    assert "usage" not in failed
    assert "Say hi" not in str(got)
    assert "word word" not in str(got)


def test_content_is_captured_when_enabled(tmp_path: Path) -> None:
    home = tmp_path / "home"
    served = start_serve(
        [f"smol={smollm_gguf()}"], home, "--llm-context", "256", "--llm-capture-content", inference_log=True
    )
    try:
        answer = httpx.post(f"{served.url}/v1/chat/completions", json=CHAT, headers=auth(), timeout=60)
        assert answer.status_code == 200
        [event] = events(home, 1)
    finally:
        served.stop()
    assert event["inputs"] == {"prompt": ["Say hi"]}
    assert event["outputs"] == {"completion": [answer.json()["choices"][0]["message"]["content"]]}
