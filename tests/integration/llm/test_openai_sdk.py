"""The unchanged ``openai`` SDK against ``cnai serve smol=SmolLM2.gguf``: chat and completions,
streaming and not, usage on streams, stop, seed, max_tokens, the model list and the metrics."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.llm.conftest import Served, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", re.MULTILINE)
    total = 0.0
    for match in pattern.finditer(text):
        if all(part in (match.group(1) or "") for part in wanted.split(",") if part):
            total += float(match.group(2))
    return total


def test_models_are_listed(client: Any) -> None:
    ids = [m.id for m in client.models.list().data]
    assert ids == ["smol"]
    assert client.models.retrieve("smol").id == "smol"


def test_chat_answers_with_the_gguf_chat_template(client: Any) -> None:
    answer = client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=16, temperature=0)
    choice = answer.choices[0]
    assert "Paris" in choice.message.content  # the template is right, or a 135M model would not know
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    use = answer.usage
    assert use.prompt_tokens > 10
    assert 0 < use.completion_tokens <= 16
    assert use.total_tokens == use.prompt_tokens + use.completion_tokens


def test_stream_matches_the_answer_and_carries_usage(client: Any) -> None:
    kwargs: dict[str, Any] = {"model": "smol", "messages": QUESTION, "max_tokens": 24, "temperature": 0}
    whole = client.chat.completions.create(**kwargs)
    chunks = list(client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content  # greedy: the same tokens either way
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons == [whole.choices[0].finish_reason]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    # without include_usage no chunk carries usage
    plain = list(client.chat.completions.create(**kwargs, stream=True))
    assert all(c.usage is None for c in plain)


def test_sse_ends_with_done(llm: Served) -> None:
    body = {"model": "smol", "prompt": "Once upon a time", "max_tokens": 5, "stream": True}
    with httpx.stream("POST", f"{llm.url}/v1/completions", json=body, headers=auth(), timeout=60) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [line for line in resp.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)


def test_completion_stops_at_max_tokens(client: Any) -> None:
    answer = client.completions.create(
        model="smol", prompt="The list of numbers: 1, 2, 3, 4,", max_tokens=6, temperature=0
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 6
    assert answer.choices[0].text.strip()


def test_stop_string_ends_the_answer_before_it(client: Any) -> None:
    prompt = "The list of numbers: 1, 2, 3, 4,"
    free = client.completions.create(model="smol", prompt=prompt, max_tokens=20, temperature=0).choices[0].text
    stop = free.strip()[2:5]  # a string the model does produce, past its first characters
    assert stop
    assert stop in free
    cut = client.completions.create(model="smol", prompt=prompt, max_tokens=20, temperature=0, stop=[stop])
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == free[: free.index(stop)]


def test_same_seed_same_answer_at_high_temperature(client: Any) -> None:
    def ask(seed: int) -> str:
        params: dict[str, Any] = {"model": "smol", "messages": QUESTION, "max_tokens": 24}
        out = client.chat.completions.create(**params, temperature=1.5, top_p=0.95, seed=seed)
        return str(out.choices[0].message.content)

    first = ask(1234)
    assert ask(1234) == first
    others = {ask(seed) for seed in (1, 2, 3)}
    assert others != {first}  # sampling does happen: three other seeds do not all repeat it


def test_metrics_move_with_traffic(client: Any, llm: Served) -> None:
    before = llm.metrics()
    client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=8, temperature=0)
    list(client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=8, stream=True))
    after = llm.metrics()
    for name in (
        "cnai_llm_time_to_first_token_seconds_count",
        "cnai_llm_time_per_output_token_seconds_count",
        "cnai_llm_request_duration_seconds_count",
    ):
        assert metric(after, name, model="smol") - metric(before, name, model="smol") == 2, name
    assert (
        metric(after, "cnai_llm_prompt_tokens_total", model="smol")
        - metric(before, "cnai_llm_prompt_tokens_total", model="smol")
        > 20
    )
    generated = metric(after, "cnai_llm_generation_tokens_total", model="smol") - metric(
        before, "cnai_llm_generation_tokens_total", model="smol"
    )
    assert 2 <= generated <= 16
    assert "# TYPE cnai_llm_time_to_first_token_seconds histogram" in after
    assert metric(after, "cnai_llm_requests_running", model="smol") == 0
    assert metric(after, "cnai_llm_requests_waiting", model="smol") == 0


def test_a_repeated_prompt_is_read_from_the_slot_cache(client: Any, llm: Served) -> None:
    """A finished request's tokens stay in its slot: the same prompt again reads only its last token
    (usage says so in ``prompt_tokens_details.cached_tokens``) and gets the same greedy answer."""
    before = metric(llm.metrics(), "cnai_llm_prompt_tokens_cached_total", model="smol")
    params: dict[str, Any] = {"model": "smol", "messages": QUESTION, "max_tokens": 16, "temperature": 0}
    first = client.chat.completions.create(**params)
    again = client.chat.completions.create(**params)
    assert again.choices[0].message.content == first.choices[0].message.content
    assert again.usage.prompt_tokens == first.usage.prompt_tokens
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens - 1
    other = client.chat.completions.create(**{**params, "messages": [{"role": "user", "content": "Name a fruit."}]})
    # the chat template's system turn is shared with the cached prompt, the question is not
    assert 10 < other.usage.prompt_tokens_details.cached_tokens < other.usage.prompt_tokens - 3
    cached = metric(llm.metrics(), "cnai_llm_prompt_tokens_cached_total", model="smol") - before
    assert cached >= again.usage.prompt_tokens_details.cached_tokens + other.usage.prompt_tokens_details.cached_tokens
