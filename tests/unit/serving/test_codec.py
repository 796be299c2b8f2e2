"""OIP codecs: JSON and binary round-trips for every datatype, and malformed bodies refused."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnai.errors import InvalidArgument
from cnai.serving.protocol.codec import decode_request, encode_response, tensor_from_array
from cnai.serving.protocol.datatypes import DATATYPES, to_numpy_dtype

NUMERIC = sorted(DATATYPES - {"BYTES"})
_ONE = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}'


def _binary_request(name: str, arr: np.ndarray, datatype: str) -> tuple[bytes, int]:
    if datatype == "BYTES":
        raw = b"".join(struct.pack("<I", len(v)) + v for v in arr.reshape(-1).tolist())
    else:
        raw = arr.astype(to_numpy_dtype(datatype)).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(arr.shape),
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return header + raw, len(header)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(NUMERIC), st.data())
def test_numeric_round_trip_json_and_binary(datatype: str, data: st.DataObject) -> None:
    dtype = to_numpy_dtype(datatype)
    elements = {"allow_nan": False, "allow_infinity": False} if dtype.kind == "f" else {}
    arr = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=elements))
    body, hlen = _binary_request("t", arr, datatype)
    got = decode_request(body, hlen).inputs[0]
    np.testing.assert_array_equal(got.data, arr)
    assert got.data.dtype == dtype
    as_json = json.dumps(
        {"inputs": [{"name": "t", "shape": list(arr.shape), "datatype": datatype, "data": arr.reshape(-1).tolist()}]}
    )
    got = decode_request(as_json.encode()).inputs[0]
    np.testing.assert_array_equal(got.data, arr)
    # And back out: the response carries the same values either way.
    for binary in (True, False):
        body, hlen = encode_response("m", "1", "id", [(tensor_from_array("out", arr), binary)])
        header = json.loads(body[:hlen] if hlen else body)
        out = header["outputs"][0]
        assert out["datatype"] == datatype
        if binary:
            np.testing.assert_array_equal(np.frombuffer(body[hlen:], dtype=dtype).reshape(arr.shape), arr)
        else:
            np.testing.assert_array_equal(np.asarray(out["data"], dtype=dtype).reshape(arr.shape), arr)


@given(st.lists(st.binary(max_size=12), min_size=1, max_size=6))
def test_bytes_round_trip(values: list[bytes]) -> None:
    arr = np.array([*values, b""], dtype=object)[:-1]
    body, hlen = _binary_request("s", arr, "BYTES")
    got = decode_request(body, hlen).inputs[0]
    assert got.data.tolist() == values
    resp, rlen = encode_response("m", None, None, [(tensor_from_array("o", arr), True)])
    assert rlen is not None
    assert resp[rlen:] == body[hlen:]


def test_requested_outputs_and_binary_flags() -> None:
    body = json.dumps(
        {
            "id": "r",
            "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
            "outputs": [{"name": "a", "parameters": {"binary_data": True}}, {"name": "b"}],
            "parameters": {"binary_data_output": False},
        }
    ).encode()
    req = decode_request(body)
    assert req.id == "r"
    assert [(o.name, o.binary) for o in req.outputs or []] == [("a", True), ("b", False)]


@pytest.mark.parametrize(
    ("body", "hlen", "match"),
    [
        (b"[1]", None, "JSON object"),
        (b"{", None, "not valid JSON"),
        (b'{"inputs": []}', None, "non-empty"),
        (b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]}', None, "do not fill"),
        (b'{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}', None, "non-negative"),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]}]}', None, "does not match"),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "INT8", "data": ["a"]}]}', None, "does not match"),
        (b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [[1], [2, 3]]}]}', None, "ragged"),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}', None, "neither"),
        (_ONE + b"xx", len(_ONE), "not claimed"),
        (b"{}", 99, "does not fit"),
    ],
)
def test_malformed_requests(body: bytes, hlen: int | None, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        decode_request(body, hlen)


def test_truncated_binary_bytes_tensor() -> None:
    raw = struct.pack("<I", 10) + b"abc"
    header = json.dumps(
        {"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}]}
    ).encode()
    with pytest.raises(InvalidArgument, match="runs past"):
        decode_request(header + raw, len(header))


INTS = [d for d in NUMERIC if d.startswith(("INT", "UINT"))]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(INTS), st.integers(min_value=-(2**70), max_value=2**70))
def test_json_integers_fit_their_datatype_or_are_refused(datatype: str, value: int) -> None:
    """Never a silently wrapped value (300 as UINT8 used to arrive as 44)."""
    info = np.iinfo(to_numpy_dtype(datatype))
    body = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": datatype, "data": [value]}]}).encode()
    if info.min <= value <= info.max:
        assert int(decode_request(body).inputs[0].data[0]) == value
    else:
        with pytest.raises(InvalidArgument, match=r"out of range|does not match"):
            decode_request(body)


def test_binary_bool_bytes_other_than_0_and_1_are_refused() -> None:
    header = b'{"inputs": [{"name": "b", "shape": [3], "datatype": "BOOL", "parameters": {"binary_data_size": 3}}]}'
    assert decode_request(header + bytes([1, 0, 1]), len(header)).inputs[0].data.tolist() == [True, False, True]
    with pytest.raises(InvalidArgument, match="BOOL"):
        decode_request(header + bytes([1, 7, 1]), len(header))


def test_json_bool_and_numbers_do_not_mix() -> None:
    for datatype, data in (("BOOL", [1, 0]), ("FP32", [True, False]), ("INT32", [True, False])):
        body = json.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": datatype, "data": data}]}).encode()
        with pytest.raises(InvalidArgument, match="does not match"):
            decode_request(body)


@pytest.mark.parametrize(
    ("shape", "datatype", "match"),
    [
        ([2**40], "BYTES", "more than a"),  # 8 TiB of object pointers, from a 150-byte body
        ([2**20, 2**20], "FP64", "more than a"),
        ([1] * 40, "FP64", "dimensions"),
        ([0, 4], "FP64", "no elements"),
    ],
)
def test_shapes_are_checked_against_the_body_before_allocating(shape: list[int], datatype: str, match: str) -> None:
    blob = struct.pack("<I", 1) + b"a"
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": len(blob)}}]}
    ).encode()
    with pytest.raises(InvalidArgument, match=match):
        decode_request(header + blob, len(header))
