from __future__ import annotations

import base64

import pytest

from cnai.errors import InvalidArgument
from cnai.tracking.search import decode_page_token, encode_page_token


@pytest.mark.parametrize("offset", [0, 1, 1000, 2**62])
def test_round_trip(offset: int) -> None:
    assert decode_page_token(encode_page_token(offset)) == offset


def test_format_is_mlflows() -> None:
    assert base64.b64decode(encode_page_token(25)) == b'{"offset": 25}'


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_the_first_page(token: str | None) -> None:
    assert decode_page_token(token) == 0


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "abc",  # bad padding
        b64(b"not json"),
        b64(b"\xff\xfe"),
        b64(b"[1, 2]"),
        b64(b'{"offset": -1}'),
        b64(b'{"offset": "5"}'),
        b64(b'{"offset": 1.5}'),
        b64(b'{"offset": true}'),
        b64(b'{"offset": 99999999999999999999999}'),
        b64(b"{}"),
        "A" * 300,
        "é",
    ],
)
def test_bad_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid page token"):
        decode_page_token(token)


@pytest.mark.parametrize("offset", [-1, 2**62 + 1, True, 1.0])
def test_encode_refuses_non_offsets(offset: object) -> None:
    with pytest.raises(ValueError, match="page offset"):
        encode_page_token(offset)  # type: ignore[arg-type]
