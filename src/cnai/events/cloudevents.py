"""CloudEvents 1.0 envelopes in the structured JSON mode (the whole event is one JSON object).

An event is a plain dict, as the JSON format spec lays it out: the required context attributes
``specversion``, ``id``, ``source``, ``type``; the optional ``time`` (RFC 3339), ``subject``,
``datacontenttype``, ``dataschema``; extension attributes with lower-case alphanumeric names; and
the payload in ``data`` (JSON) or ``data_base64`` (binary). ``encode`` and ``decode`` check the
envelope so that a malformed event is refused at the edge, never half-processed downstream.
Specs: github.com/cloudevents/spec (v1.0.2 ``spec.md`` and ``formats/json-format.md``).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cnai._clock import now_ms
from cnai.errors import InvalidArgument

SPEC_VERSION = "1.0"
INFERENCE_EVENT_TYPE = "io.cnai.inference.v1"
INFERENCE_TOPIC = "cnai.inference"

_REQUIRED = ("id", "source", "type")
_OPTIONAL_STRINGS = ("subject", "datacontenttype", "dataschema", "time")
# spec.md, "Attribute Naming Convention": lower-case ASCII letters and digits only. The spec only
# *recommends* at most 20 characters, so longer names are accepted.
_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]+")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ENCODE_OPTIONS = orjson.OPT_SERIALIZE_NUMPY  # inference payloads often hold numpy values


def make_event(
    type: str,
    source: str,
    data: Any,
    *,
    subject: str | None = None,
    id: str | None = None,
    time_ms: int | None = None,
) -> dict[str, Any]:
    """A new event; ``id`` defaults to a random UUID and ``time_ms`` to now.

    ``bytes`` data goes into ``data_base64`` (``application/octet-stream``), anything else into
    ``data`` as JSON.
    """
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": id if id is not None else uuid.uuid4().hex,
        "source": source,
        "type": type,
        "time": format_time(now_ms() if time_ms is None else time_ms),
    }
    if subject is not None:
        event["subject"] = subject
    if isinstance(data, bytes | bytearray):
        event["datacontenttype"] = "application/octet-stream"
        event["data_base64"] = base64.b64encode(data).decode("ascii")
    else:
        event["datacontenttype"] = "application/json"
        event["data"] = data
    validate(event)
    return event


def encode(event: dict[str, Any]) -> bytes:
    """The event as UTF-8 JSON bytes; InvalidArgument if it is not a valid CloudEvent."""
    validate(event)
    try:
        return orjson.dumps(event, option=_ENCODE_OPTIONS)
    except TypeError as exc:  # orjson's JSONEncodeError: a value JSON cannot carry
        raise InvalidArgument(f"Event data is not JSON-serialisable: {exc}") from exc


def decode(raw: bytes) -> dict[str, Any]:
    """Parse and check one structured-mode event; InvalidArgument when malformed."""
    if not isinstance(raw, bytes | bytearray | memoryview | str):
        raise InvalidArgument(f"A CloudEvent is JSON text or bytes, got {type(raw).__name__}")
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Not a JSON CloudEvent: {exc}") from exc
    validate(event)
    return event  # type: ignore[no-any-return]  # validate() proved it is a dict


def validate(event: Any) -> None:
    """Raise InvalidArgument unless ``event`` is a CloudEvents 1.0 envelope."""
    if not isinstance(event, dict):
        raise InvalidArgument(f"A CloudEvent must be a JSON object, got {type(event).__name__}")
    if event.get("specversion") != SPEC_VERSION:
        raise InvalidArgument(f"Unsupported CloudEvents specversion {event.get('specversion')!r}: expected '1.0'")
    for name in _REQUIRED:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidArgument(f"CloudEvent attribute {name!r} is required and must be a non-empty string")
    for name in _OPTIONAL_STRINGS:
        value = event.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"CloudEvent attribute {name!r} must be a string")
    if event.get("time") is not None:
        parse_time_ms(event["time"])
    if "data" in event and "data_base64" in event:
        raise InvalidArgument("A CloudEvent carries 'data' or 'data_base64', not both")
    if "data_base64" in event:
        _check_base64(event["data_base64"])
    for name, value in event.items():
        if name in ("data", "data_base64"):
            continue
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            raise InvalidArgument(f"Invalid CloudEvent attribute name {name!r}: use lower-case a-z and 0-9")
        # json-format.md §2.2: attribute values are JSON strings, numbers or booleans (or null,
        # meaning absent); objects and arrays have no CloudEvents type.
        if isinstance(value, dict | list):
            raise InvalidArgument(f"CloudEvent attribute {name!r} must be a string, number or boolean")


def format_time(time_ms: int) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2025-01-31T12:00:00.123Z``."""
    return (_EPOCH + timedelta(milliseconds=time_ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time_ms(value: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 timestamp; InvalidArgument otherwise."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidArgument(f"CloudEvent time {value!r} is not an RFC 3339 timestamp")
    text = value.upper().replace("Z", "+00:00")
    fraction = match.group(1)
    if fraction and len(fraction) > 7:  # Python parses at most microseconds
        text = text.replace(fraction, fraction[:7], 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:  # e.g. month 13
        raise InvalidArgument(f"CloudEvent time {value!r} is not a valid date and time") from exc
    # Exact integer arithmetic: float timestamps can round 123 ms down to 122.
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def event_data(event: dict[str, Any]) -> Any:
    """The payload: ``data`` as parsed JSON, or the bytes of ``data_base64``; None when absent."""
    if "data_base64" in event:
        return base64.b64decode(event["data_base64"])
    return event.get("data")


def _check_base64(value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidArgument("CloudEvent 'data_base64' must be a base64 string")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(f"CloudEvent 'data_base64' is not valid base64: {exc}") from exc
