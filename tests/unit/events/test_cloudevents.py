"""CloudEvents 1.0 envelopes: round trips, and malformed events refused with InvalidArgument."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from cnai.errors import InvalidArgument
from cnai.events.cloudevents import (
    INFERENCE_EVENT_TYPE,
    decode,
    encode,
    event_data,
    format_time,
    make_event,
    parse_time_ms,
)


def valid() -> dict[str, Any]:
    return make_event(INFERENCE_EVENT_TYPE, "/serve/iris", {"x": [1.5, 2.0]}, id="req-1", time_ms=1_700_000_000_123)


def test_make_event_fills_the_required_attributes() -> None:
    event = make_event("io.cnai.test", "/here", {"a": 1}, subject="model-a")
    assert event["specversion"] == "1.0"
    assert event["type"] == "io.cnai.test"
    assert event["source"] == "/here"
    assert event["subject"] == "model-a"
    assert event["datacontenttype"] == "application/json"
    assert len(event["id"]) == 32
    assert event["id"] != make_event("io.cnai.test", "/here", None)["id"]
    assert event["time"].endswith("Z")


def test_round_trip_keeps_every_attribute() -> None:
    event = valid()
    event["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # an extension
    raw = encode(event)
    assert orjson.loads(raw)["id"] == "req-1"
    assert decode(raw) == event
    assert decode(raw.decode()) == event
    assert parse_time_ms(decode(raw)["time"]) == 1_700_000_000_123


def test_binary_data_travels_as_base64() -> None:
    event = make_event("io.cnai.test", "/here", b"\x00\xffraw")
    assert "data" not in event
    assert event["datacontenttype"] == "application/octet-stream"
    decoded = decode(encode(event))
    assert event_data(decoded) == b"\x00\xffraw"
    assert event_data(valid()) == {"x": [1.5, 2.0]}


def test_numpy_values_encode() -> None:
    np = pytest.importorskip("numpy")
    event = make_event("io.cnai.test", "/here", {"inputs": np.arange(3, dtype=np.float32)})
    assert decode(encode(event))["data"] == {"inputs": [0.0, 1.0, 2.0]}


@pytest.mark.parametrize(
    ("time_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (999, "1970-01-01T00:00:00.999Z"),
    ],
)
def test_time_is_rfc3339_in_milliseconds_both_ways(time_ms: int, text: str) -> None:
    assert format_time(time_ms) == text
    assert parse_time_ms(text) == time_ms


def test_time_with_offset_and_long_fraction_parses() -> None:
    assert parse_time_ms("2023-11-14T23:13:20.123456789+01:00") == 1_700_000_000_123


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "Not a JSON CloudEvent"),
        (b"{not json", "Not a JSON CloudEvent"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
    ],
)
def test_decode_refuses_what_is_not_a_json_object(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        decode(raw)


def _without(name: str) -> dict[str, Any]:
    event = valid()
    del event[name]
    return event


def _with(**changes: Any) -> dict[str, Any]:
    return {**valid(), **changes}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_without("specversion"), "specversion"),
        (_with(specversion="0.3"), "specversion"),
        (_without("id"), "'id' is required"),
        (_with(id=""), "'id' is required"),
        (_with(id=7), "'id' is required"),
        (_without("source"), "'source' is required"),
        (_without("type"), "'type' is required"),
        (_with(subject=5), "'subject' must be a string"),
        (_with(time="yesterday"), "not an RFC 3339 timestamp"),
        (_with(time="2023-11-14"), "not an RFC 3339 timestamp"),
        (_with(time="2023-13-14T00:00:00Z"), "not a valid date"),
        (_with(data_base64="AAAA"), "not both"),
        ({**_without("data"), "data_base64": "not base64!"}, "not valid base64"),
        ({**_without("data"), "data_base64": 12}, "must be a base64 string"),
        (_with(Bad="x"), "Invalid CloudEvent attribute name"),
        (_with(my_ext="x"), "Invalid CloudEvent attribute name"),
        (_with(myext={"nested": 1}), "string, number or boolean"),
    ],
)
def test_malformed_events_are_refused_on_decode_and_encode(event: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        decode(orjson.dumps(event))
    with pytest.raises(InvalidArgument, match=message):
        encode(event)


def test_encode_refuses_data_json_cannot_carry() -> None:
    with pytest.raises(InvalidArgument, match="not JSON-serialisable"):
        encode(make_event("io.cnai.test", "/here", {"when": object()}))


def test_make_event_refuses_an_empty_type() -> None:
    with pytest.raises(InvalidArgument, match="'type' is required"):
        make_event("", "/here", None)


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(InvalidArgument, match="JSON text or bytes"):
        decode(123)  # type: ignore[arg-type]


def test_valid_base64_payload_decodes() -> None:
    event = {**_without("data"), "data_base64": base64.b64encode(b"hi").decode()}
    assert event_data(decode(orjson.dumps(event))) == b"hi"
