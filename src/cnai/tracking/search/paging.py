"""Opaque page tokens: base64 of ``{"offset": n}``, the stock MLflow server's format.

Clients only echo ``next_page_token`` back, so the format is ours to choose; keeping MLflow's
means a token from either server reads the same. Anything that does not decode to a
non-negative offset is the caller's error.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TypeVar

from cnai.errors import InvalidArgument

# Offsets past this are no page anyone reached by paging; the cap keeps the value inside a
# 64-bit OFFSET on both databases.
MAX_OFFSET = 2**62
# A real token is under 60 characters; refusing long ones bounds the work a bad one costs.
MAX_TOKEN_LENGTH = 256


def encode_page_token(offset: int) -> str:
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"page offset must be an int in [0, {MAX_OFFSET}], got {offset!r}")
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """The offset a token stands for; None or empty means the first page (0)."""
    if token is None or token == "":
        return 0
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidArgument("Invalid page token")
    try:
        payload = json.loads(base64.b64decode(token.encode("ascii"), validate=True))
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidArgument("Invalid page token: it is not one this server issued") from None
    offset = payload.get("offset") if isinstance(payload, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument("Invalid page token: it holds no valid offset")
    return offset


T = TypeVar("T")


def cut_page(rows: list[T], offset: int, max_results: int) -> tuple[list[T], str | None]:
    """Trim rows fetched with ``LIMIT max_results + 1``: the extra row only says a next page exists."""
    if len(rows) > max_results:
        return rows[:max_results], encode_page_token(offset + max_results)
    return rows, None
