"""OpenAI's API shapes: request validation, answers, stream chunks and errors.

Only what cnai implements is accepted; a field it would have to ignore silently (``n`` > 1,
``logprobs``, ``tools``) is refused with a 400 naming the field, so a client never gets an
answer that looks right but is not what it asked for. Errors are OpenAI's
``{"error": {"message", "type", "param", "code"}}``, which the ``openai`` SDK turns into its
typed exceptions.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from cnai.serving.openai_error import error_body

__all__ = ["error_body"]  # re-exported: one shape for the server and the router

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "logprobs", "top_logprobs", "suffix", "echo")


class OpenAIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


def bad(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    model: str
    messages: list[dict[str, str]] | None  # chat
    prompt: str | None  # completions
    max_tokens: int | None
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int | None
    stream: bool
    include_usage: bool


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad(f"The body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise bad("The body must be a JSON object")
    return doc


def model_field(doc: dict[str, Any]) -> str:
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' is required: the name of a served model (GET /v1/models lists them)", "model")
    return model


def parse_generation(doc: dict[str, Any], *, chat: bool) -> GenerationRequest:
    model = model_field(doc)
    for name in _UNSUPPORTED:
        if doc.get(name) not in (None, False, [], 0) and not (name == "echo" and doc.get(name) is False):
            raise bad(f"'{name}' is not supported by this server", name, "unsupported_parameter")
    n = doc.get("n", 1)
    if n != 1:
        raise bad("Only n=1 is supported", "n", "unsupported_parameter")
    messages = _messages(doc.get("messages")) if chat else None
    prompt = None if chat else _prompt(doc.get("prompt"))
    max_tokens = doc.get("max_completion_tokens", doc.get("max_tokens")) if chat else doc.get("max_tokens", 16)
    param = "max_completion_tokens" if chat and "max_completion_tokens" in doc else "max_tokens"
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise bad(f"'{param}' must be a positive integer, got {max_tokens!r}", param, "invalid_value")
    temperature = _number(doc, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(doc, "top_p", 1.0, 0.0, 1.0)
    if top_p <= 0:
        raise bad("'top_p' must be greater than 0", "top_p", "invalid_value")
    seed = doc.get("seed")
    if seed is not None and not _is_int(seed):
        raise bad("'seed' must be an integer", "seed", "invalid_type")
    stream = doc.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("'stream' must be a boolean", "stream", "invalid_type")
    options = doc.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not stream):
        raise bad("'stream_options' is an object, allowed only with stream: true", "stream_options")
    include_usage = bool((options or {}).get("include_usage", False))
    return GenerationRequest(
        model, messages, prompt, max_tokens, temperature, top_p, _stop(doc.get("stop")), seed, stream, include_usage
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(doc: dict[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    value = doc.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise bad(f"'{name}' must be a number between {lo:g} and {hi:g}, got {value!r}", name, "invalid_value")
    return float(value)


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise bad("'messages' must be a non-empty array", "messages")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise bad(f"messages[{i}] must be an object", f"messages[{i}]")
        role = message.get("role")
        if role not in ROLES:
            raise bad(
                f"messages[{i}].role is {role!r}; it must be one of {sorted(ROLES)}",
                f"messages[{i}].role",
                "invalid_value",
            )
        out.append({"role": "system" if role == "developer" else role, "content": _content(message.get("content"), i)})
    return out


def _content(value: Any, i: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: text only
        texts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad(f"messages[{i}].content: only text parts are supported", f"messages[{i}].content")
            texts.append(part["text"])
        return "".join(texts)
    raise bad(f"messages[{i}].content must be a string or an array of text parts", f"messages[{i}].content")


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise bad("'prompt' must be a non-empty string (or an array of one string)", "prompt")
    return value


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > 4 or not all(isinstance(s, str) and s for s in value):
        raise bad("'stop' must be a string or an array of up to 4 non-empty strings", "stop")
    return tuple(value)


# ---- answers ---------------------------------------------------------------------------------
def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> dict[str, Any]:
    """OpenAI's usage; ``cached_tokens``: prompt tokens whose keys and values were reused."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }


def completion_body(
    rid: str, model: str, created: int, text: str, finish_reason: str, use: dict[str, Any], *, chat: bool
) -> bytes:
    if chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason,
            "logprobs": None,
        }
        kind = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
        kind = "text_completion"
    return orjson.dumps(
        {"id": rid, "object": kind, "created": created, "model": model, "choices": [choice], "usage": use}
    )


def chunk(
    rid: str,
    model: str,
    created: int,
    *,
    chat: bool,
    text: str | None = None,
    role: bool = False,
    finish_reason: str | None = None,
    use: dict[str, Any] | None = None,
    no_choices: bool = False,
) -> bytes:
    """One SSE event; ``no_choices``: the final usage chunk of ``include_usage`` (``choices: []``)."""
    choices: list[dict[str, Any]] = []
    if not no_choices:
        if chat:
            delta: dict[str, Any] = {}
            if role:
                delta["role"] = "assistant"
            if text is not None:
                delta["content"] = text
            choices.append({"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None})
        else:
            choices.append({"index": 0, "text": text or "", "finish_reason": finish_reason, "logprobs": None})
    doc: dict[str, Any] = {
        "id": rid,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if use is not None or no_choices:
        doc["usage"] = use
    return b"data: " + orjson.dumps(doc) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def sse_error(err: OpenAIError) -> bytes:
    return b"data: " + err.body() + b"\n\n"


def model_card(name: str, created: int, kind: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "cnai", "cnai_kind": kind}


# ---- embeddings ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[str]
    base64: bool
    dimensions: int | None


def parse_embeddings(doc: dict[str, Any]) -> EmbeddingRequest:
    model = model_field(doc)
    value = doc.get("input")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad("'input' must be a string or a non-empty array of strings (token arrays are not supported)", "input")
    if len(value) > 2048:
        raise bad("'input' holds at most 2048 strings", "input")
    if any(not v for v in value):
        raise bad("'input' strings must not be empty", "input")
    fmt = doc.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise bad("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dimensions = doc.get("dimensions")
    if dimensions is not None and (not _is_int(dimensions) or dimensions < 1):
        raise bad("'dimensions' must be a positive integer", "dimensions")
    return EmbeddingRequest(model, value, fmt == "base64", dimensions)


def embeddings_body(model: str, vectors: np.ndarray, tokens: int, *, as_base64: bool) -> bytes:
    data = []
    for i, row in enumerate(vectors):
        vec = np.ascontiguousarray(row, dtype="<f4")
        embedding: Any = base64.b64encode(vec.tobytes()).decode() if as_base64 else vec
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    doc = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def now() -> int:
    return int(time.time())
