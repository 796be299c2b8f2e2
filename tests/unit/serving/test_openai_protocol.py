"""OpenAI request validation and answer shapes (no model needed)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
import pytest

from cnai.serving.protocol import openai as oa

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_chat_defaults_and_content_parts() -> None:
    doc = {
        **CHAT,
        "messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
    }
    req = oa.parse_generation(doc, chat=True)
    assert req.messages == [{"role": "system", "content": "ab"}]
    assert (req.max_tokens, req.temperature, req.top_p, req.stop, req.stream) == (None, 1.0, 1.0, (), False)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"seed": "1"}, "seed"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content"),
        ({"messages": [{"content": "no role"}]}, "messages[0].role"),
    ],
)
def test_invalid_chat_fields_name_their_param(patch: dict[str, Any], param: str) -> None:
    with pytest.raises(oa.OpenAIError) as info:
        oa.parse_generation({**CHAT, **patch}, chat=True)
    assert info.value.status == 400
    assert info.value.param == param
    body = orjson.loads(info.value.body())
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_completion_prompt_forms() -> None:
    assert oa.parse_generation({"model": "m", "prompt": ["x"]}, chat=False).prompt == "x"
    assert oa.parse_generation({"model": "m", "prompt": "x"}, chat=False).max_tokens == 16  # OpenAI's default
    with pytest.raises(oa.OpenAIError):
        oa.parse_generation({"model": "m", "prompt": [1, 2, 3]}, chat=False)


def test_stream_chunks_and_usage_chunk() -> None:
    first = orjson.loads(oa.chunk("id", "m", 1, chat=True, role=True, text="")[6:])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "usage" not in first
    last = orjson.loads(oa.chunk("id", "m", 1, chat=True, use=oa.usage(3, 4), no_choices=True)[6:])
    assert last["choices"] == []
    assert last["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_embeddings_base64_is_little_endian_float32() -> None:
    vectors = np.array([[1.5, -2.0, 0.25]], dtype=np.float32)
    doc = orjson.loads(oa.embeddings_body("m", vectors, 5, as_base64=True))
    raw = base64.b64decode(doc["data"][0]["embedding"])
    np.testing.assert_array_equal(np.frombuffer(raw, dtype="<f4"), vectors[0])
    assert orjson.loads(oa.embeddings_body("m", vectors, 5, as_base64=False))["data"][0]["embedding"] == [
        1.5,
        -2.0,
        0.25,
    ]
    req = oa.parse_embeddings({"model": "m", "input": "one"})
    assert req.inputs == ["one"]
    assert not req.base64
