"""Malformed requests get OpenAI-shaped 4xx answers; the serving guard covers the /v1 routes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.llm.conftest import Served, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def post(llm: Served, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{llm.url}{path}", json=body, headers={**auth(), **headers}, timeout=60)


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    doc = resp.json()
    assert set(doc) == {"error"}
    assert set(doc["error"]) == {"message", "type", "param", "code"}
    assert doc["error"]["message"]
    return dict(doc["error"])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "smol", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "smol", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}, "max_tokens"),
        ({"model": "smol", "messages": []}, "messages"),
        ({"model": "smol", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}, "temperature"),
        ({"model": "smol", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ],
)
def test_bad_chat_requests_are_400(llm: Served, body: dict[str, Any], param: str) -> None:
    error = error_of(post(llm, "/v1/chat/completions", body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_prompt_beyond_the_context_is_400(llm: Served, client: Any) -> None:
    long = "word " * 1200  # the fixture gives each request 512 tokens
    error = error_of(post(llm, "/v1/completions", {"model": "smol", "prompt": long}), 400)
    assert error["code"] == "context_length_exceeded"
    import openai

    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="smol", messages=[{"role": "user", "content": long}])
    assert info.value.code == "context_length_exceeded"


def test_unknown_model_is_404_and_bad_json_400(llm: Served) -> None:
    error = error_of(
        post(llm, "/v1/chat/completions", {"model": "gpt-5", "messages": [{"role": "user", "content": "x"}]}), 404
    )
    assert error["code"] == "model_not_found"
    resp = httpx.post(f"{llm.url}/v1/completions", content=b"{not json", headers=auth(), timeout=10)
    error_of(resp, 400)


def test_v1_routes_are_guarded(llm: Served) -> None:
    body = {"model": "smol", "prompt": "Hi", "max_tokens": 2}
    assert httpx.post(f"{llm.url}/v1/completions", json=body, timeout=10).status_code == 401
    assert httpx.get(f"{llm.url}/v1/models", timeout=10).status_code == 401
    wrong = httpx.get(f"{llm.url}/v1/models", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    cross = post(llm, "/v1/completions", body, Origin="https://evil.example")
    assert cross.status_code == 403
    rebound = post(llm, "/v1/completions", body, Host="evil.example")
    assert rebound.status_code == 400
    assert post(llm, "/v1/completions", body).status_code == 200
