"""OpenAI's error body, ``{"error": {"message", "type", "param", "code"}}``, which the ``openai``
SDK turns into its typed exceptions.

A module of its own, with nothing but orjson, so the deployment router (which runs in the control
plane, where numpy is not installed) writes the same shape as the model server without importing
:mod:`cnai.serving.protocol`.
"""

from __future__ import annotations

import orjson


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})
