"""Reading MLflow request messages: JSON bodies (POST/PATCH/DELETE) or query strings (GET).

Field access is typed and strict, with errors a client can act on. The rules follow proto3 JSON,
which is what the stock client sends: int64 may come as a number or a numeric string, doubles may
be "NaN"/"Infinity", and GET requests repeat a key for a repeated field.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from cnai.errors import InvalidArgument
from cnai.web import read_body

_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


Str = str  # aliases: the methods below shadow these builtins inside the class body
List = list


class Message:
    """Typed view of one request message."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def merged(self, extra: dict[str, Any]) -> Message:
        return Message({**self._data, **extra})

    def fields(self) -> dict[str, Any]:
        return self._data

    def str(self, name: Str, default: Str | None = None, *, required: bool = False) -> Any:
        value = self._data.get(name)
        if value is None or (value == "" and required):
            if required:
                raise InvalidArgument(f"Missing value for required parameter '{name}'.")
            return default
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str):
            raise InvalidArgument(f"Invalid value {_short(value)} for parameter '{name}': expected a string")
        return value

    def int(self, name: Str, default: int | None = None, *, required: bool = False) -> Any:
        value = self._data.get(name)
        if value is None or value == "":
            if required:
                raise InvalidArgument(f"Missing value for required parameter '{name}'.")
            return default
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        return to_int(value, name)

    def bool(self, name: Str, default: bool = False) -> bool:
        value = self._data.get(name)
        if value is None:
            return default
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidArgument(f"Invalid value {_short(value)} for parameter '{name}': expected a boolean")

    def list(self, name: Str) -> List[Any]:
        value = self._data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            # A GET query string with a single occurrence of a repeated field.
            return [value]
        return value

    def str_list(self, name: Str) -> List[Str]:
        values = self.list(name)
        for v in values:
            if not isinstance(v, str):
                raise InvalidArgument(f"Invalid value {_short(v)} in '{name}': expected strings")
        return values

    def key_values(self, name: Str) -> List[tuple[Str, Str]]:
        """A repeated ``{key, value}`` field (tags, params) as pairs."""
        pairs = []
        for item in self.list(name):
            if not isinstance(item, dict):
                raise InvalidArgument(f"Invalid entry {_short(item)} in '{name}': expected {{key, value}}")
            key, value = item.get("key"), item.get("value", "")
            if not isinstance(key, str) or not key:
                raise InvalidArgument(f"Invalid entry {_short(item)} in '{name}': 'key' must be a string")
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise InvalidArgument(f"Invalid value {_short(value)} for '{key}' in '{name}': expected a string")
            pairs.append((key, value))
        return pairs


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def to_int(value: Any, name: str) -> int:
    """An int64, as proto3 JSON allows it (number or numeric string); anything else is refused."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        raise InvalidArgument(f"Invalid value {_short(value)} for parameter '{name}': expected an integer")
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidArgument(f"Value {_short(value)} for parameter '{name}' is out of the int64 range")
    return number


def to_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidArgument(f"Invalid value {_short(value)} for parameter '{name}': expected a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_DOUBLES:
            return _SPECIAL_DOUBLES[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidArgument(f"Invalid value {_short(value)} for parameter '{name}': expected a number")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def read_message(request: Request, max_bytes: int) -> Message:
    """The request's message: query parameters for GET, else the JSON body."""
    if request.method == "GET":
        return query_message(request.scope["query_string"])
    return body_message(await read_body(request, max_bytes))


def query_message(query_string: bytes) -> Message:
    """A GET request's message: a key repeated in the query string is a repeated field."""
    data: dict[str, Any] = {}
    # As Starlette's QueryParams reads it: blank values kept, '+' a space, %-escapes decoded.
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in data:
            prev = data[key]
            data[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            data[key] = value
    return Message(data)


def body_message(body: bytes) -> Message:
    """A JSON body's message; an empty body is an empty message."""
    if not body.strip():
        return Message({})
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Malformed JSON body: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("The request body must be a JSON object")
    return Message(parsed)
