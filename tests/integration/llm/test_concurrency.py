"""Concurrent streams are batched and all complete; a full queue answers 429; a client that
leaves frees its slot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.llm.conftest import Served, auth, smollm_gguf, start_serve
from tests.integration.llm.test_openai_sdk import metric

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMPTS = [
    "Write a short poem about the sea.",
    "Name three colours.",
    "Explain what a computer is.",
    "Tell me about cats.",
    "What is rain?",
    "Describe a tree.",
    "Why is the sky blue?",
    "Give me a recipe for bread.",
]


def stream_one(client: Any, prompt: str, max_tokens: int) -> tuple[str, str | None, int]:
    text, reason, usage = [], None, 0
    stream = client.chat.completions.create(
        model="smol",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0.7,
        seed=3,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            reason = chunk.choices[0].finish_reason or reason
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
    return "".join(text), reason, usage


@pytest.mark.parametrize("concurrency", [4, 8])
def test_concurrent_streams_all_complete(client: Any, llm: Served, concurrency: int) -> None:
    before = metric(llm.metrics(), "cnai_llm_step_sequences_sum", model="smol")
    steps_before = metric(llm.metrics(), "cnai_llm_step_sequences_count", model="smol")
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda p: stream_one(client, p, 32), PROMPTS[:concurrency]))
    for text, reason, tokens in results:
        assert text.strip(), results  # never an empty answer
        assert reason in ("stop", "length"), results
        assert 0 < tokens <= 32
        if reason == "length":
            assert tokens == 32  # cut by max_tokens, and only by it
    after = llm.metrics()
    seqs = metric(after, "cnai_llm_step_sequences_sum", model="smol") - before
    steps = metric(after, "cnai_llm_step_sequences_count", model="smol") - steps_before
    assert seqs / steps > 1.5  # sequences were decoded together, not one after another


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One slot and no waiting room: a second request while one generates gets 429."""
    served = start_serve(
        [f"smol={smollm_gguf()}"],
        tmp_path_factory.mktemp("one-slot"),
        "--llm-slots",
        "1",
        "--llm-max-waiting",
        "0",
        "--llm-context",
        "1024",
    )
    yield served
    served.stop()


def wait_metric(served: Served, name: str, value: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (seen := metric(served.metrics(), name, model="smol")) != value:
        assert time.monotonic() < deadline, f"{name} stayed {seen}, expected {value}"
        time.sleep(0.05)


def test_full_queue_is_429_and_a_disconnect_frees_the_slot(one_slot: Served) -> None:
    url = f"{one_slot.url}/v1/chat/completions"
    long = {"model": "smol", "messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 900}
    quick = {"model": "smol", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    with httpx.stream("POST", url, json={**long, "stream": True}, headers=auth(), timeout=60) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        assert next(lines).startswith("data: ")  # the generation runs
        wait_metric(one_slot, "cnai_llm_requests_running", 1)
        refused = httpx.post(url, json=quick, headers=auth(), timeout=30)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        # the client leaves mid-stream (closing the response closes the connection)
    wait_metric(one_slot, "cnai_llm_requests_cancelled_total", 1)
    wait_metric(one_slot, "cnai_llm_requests_running", 0)
    answer = httpx.post(url, json=quick, headers=auth(), timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]
    assert metric(one_slot.metrics(), "cnai_llm_requests_rejected_total", model="smol") == 1
