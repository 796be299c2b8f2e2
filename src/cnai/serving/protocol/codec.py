"""OIP v2 request decoding and response encoding, JSON tensors and the binary data extension.

A binary request is ``<JSON header><tensor bytes>...``; the JSON header's length travels in the
``Inference-Header-Content-Length`` HTTP header and each binary input names its byte count in
``parameters.binary_data_size``, in input order. BYTES elements are serialised as a 4-byte
little-endian length followed by the bytes (Triton's ``extension_binary_data.md``). Responses mirror
this: outputs asked for with ``binary_data`` (or request-level ``binary_data_output``) carry
``parameters.binary_data_size`` and their bytes follow the JSON header.

Every size a request claims is checked against the bytes it sent *before* anything is allocated:
any element takes at least one byte of the body (a BYTES element at least its 4-byte length), so
a shape whose element count exceeds that is refused, whatever the encoding. Values are checked
before they are cast: a JSON integer outside the datatype's range, a number that overflows FP16 or
FP32, a boolean given for a number or a number for a BOOL, are 400s rather than silent wrapping.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson

from cnai.errors import InvalidArgument
from cnai.serving.protocol.datatypes import from_numpy_dtype, to_numpy_dtype
from cnai.serving.protocol.types import InferRequest, RequestedOutput, Tensor

_U32 = struct.Struct("<I")
_MAX_DIMS = 32  # numpy's limit is 64; no model input needs more than a handful


def decode_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Parse an inference request body into numpy tensors; InvalidArgument on anything malformed."""
    if header_length is not None:
        if header_length < 0 or header_length > len(body):
            raise InvalidArgument(
                f"Inference-Header-Content-Length {header_length} does not fit a {len(body)}-byte body"
            )
        header_bytes, binary = body[:header_length], memoryview(body)[header_length:]
    else:
        header_bytes, binary = body, memoryview(b"")
    try:
        doc = orjson.loads(header_bytes)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("An inference request is a JSON object")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidArgument("An inference request needs a non-empty 'inputs' list")
    offset = 0
    inputs: list[Tensor] = []
    for raw in raw_inputs:
        tensor, offset = _decode_input(raw, binary, offset, len(body))
        inputs.append(tensor)
    if offset != len(binary):
        raise InvalidArgument(f"{len(binary) - offset} bytes of binary data are not claimed by any input")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidArgument("'parameters' must be an object")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    return InferRequest(
        inputs=inputs,
        id=request_id,
        outputs=_decode_outputs(doc.get("outputs")),
        binary_output=bool(params.get("binary_data_output", False)),
        parameters=params,
    )


def _decode_input(raw: Any, binary: memoryview, offset: int, body_size: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict):
        raise InvalidArgument("Each input is an object with name, shape, datatype and data")
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("Each input needs a 'name'")
    # type() is int: JSON integers only (a bool is an int subclass, and never a dimension).
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidArgument(f"Input {name!r}: 'shape' must be a list of non-negative integers")
    if len(shape) > _MAX_DIMS:
        raise InvalidArgument(f"Input {name!r}: {len(shape)} dimensions; at most {_MAX_DIMS} are accepted")
    if not isinstance(datatype, str):
        raise InvalidArgument(f"Input {name!r}: 'datatype' is required")
    dtype = to_numpy_dtype(datatype)
    count = math.prod(shape)
    if count == 0:
        raise InvalidArgument(f"Input {name!r}: shape {shape} has no elements; send at least one row")
    if count > body_size:
        raise InvalidArgument(
            f"Input {name!r}: shape {shape} has {count} elements, more than a {body_size}-byte request can carry"
        )
    params = raw.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise InvalidArgument(f"Input {name!r}: binary_data_size {size!r} runs past the end of the body")
        chunk = binary[offset : offset + size]
        offset += size
        data = (
            _bytes_from_binary(chunk, count, name)
            if datatype == "BYTES"
            else _numeric_from_binary(chunk, dtype, count, name)
        )
    else:
        if "data" not in raw:
            raise InvalidArgument(f"Input {name!r} has neither 'data' nor parameters.binary_data_size")
        data = _from_json(raw["data"], datatype, dtype, count, name)
    return Tensor(name, datatype, tuple(shape), data.reshape(shape)), offset


def _numeric_from_binary(chunk: memoryview, dtype: np.dtype, count: int, name: str) -> np.ndarray:
    if len(chunk) != count * dtype.itemsize:
        raise InvalidArgument(
            f"Input {name!r}: {len(chunk)} bytes of binary data for {count} elements of {dtype.itemsize} bytes"
        )
    if dtype.kind == "b" and count and int(np.frombuffer(chunk, dtype=np.uint8).max()) > 1:
        raise InvalidArgument(f"Input {name!r}: BOOL binary data must be bytes 0 or 1")
    return np.frombuffer(chunk, dtype=dtype)


def _bytes_from_binary(chunk: memoryview, count: int, name: str) -> np.ndarray:
    if count * _U32.size > len(chunk):  # each element has at least its 4-byte length
        raise InvalidArgument(
            f"Input {name!r}: {len(chunk)} bytes of BYTES data cannot hold {count} elements (4 bytes each at least)"
        )
    out = np.empty(count, dtype=object)
    pos, raw = 0, bytes(chunk)
    for i in range(count):
        if pos + 4 > len(raw):
            raise InvalidArgument(f"Input {name!r}: BYTES data ends after {i} of {count} elements")
        (length,) = _U32.unpack_from(raw, pos)
        pos += 4
        if pos + length > len(raw):
            raise InvalidArgument(f"Input {name!r}: BYTES element {i} runs past the end of its data")
        out[i] = raw[pos : pos + length]
        pos += length
    if pos != len(raw):
        raise InvalidArgument(f"Input {name!r}: BYTES data has {len(raw) - pos} bytes after {count} elements")
    return out


def _from_json(data: Any, datatype: str, dtype: np.dtype, count: int, name: str) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        try:
            arr = np.array(data, dtype=object).reshape(-1)
        except ValueError:
            raise InvalidArgument(f"Input {name!r}: ragged 'data'") from None
        if not all(isinstance(v, str | bytes) for v in arr):
            raise InvalidArgument(f"Input {name!r}: BYTES data must be strings")
    else:
        try:
            arr = np.asarray(data)
        except ValueError:
            raise InvalidArgument(f"Input {name!r}: ragged 'data'") from None
        if arr.dtype.kind in "fO" and datatype.startswith("UINT") and arr.size:
            # Integers past int64's range (UINT64's upper half) make numpy guess float or object.
            flat = list(_flatten(data))
            if all(type(v) is int for v in flat):
                try:
                    arr = np.array(flat, dtype=dtype)
                except OverflowError:
                    raise InvalidArgument(f"Input {name!r}: values out of range for {datatype}") from None
        _check_kind(arr, datatype, name)
        if arr.size:
            _check_range(arr, dtype, datatype, name)
        arr = arr.astype(dtype, copy=False).reshape(-1)
    if arr.size != count:
        raise InvalidArgument(f"Input {name!r}: {arr.size} values do not fill shape of {count} elements")
    return arr


def _flatten(data: Any) -> Any:
    for v in data:
        if isinstance(v, list):
            yield from _flatten(v)
        else:
            yield v


def _check_kind(arr: np.ndarray, datatype: str, name: str) -> None:
    """JSON values must be of the declared kind: no strings or booleans for numbers, no fractions for
    ints, only true/false for BOOL."""
    kind = arr.dtype.kind
    ok = kind == "b" if datatype == "BOOL" else kind in "iu" if datatype.startswith(("INT", "UINT")) else kind in "iuf"
    if not ok and arr.size:
        raise InvalidArgument(f"Input {name!r}: data does not match datatype {datatype}")


def _check_range(arr: np.ndarray, dtype: np.dtype, datatype: str, name: str) -> None:
    """Values must survive the cast to ``dtype``: numpy would wrap integers and overflow floats to inf."""
    if arr.dtype == dtype:
        return
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if int(arr.min()) < int(info.min) or int(arr.max()) > int(info.max):
            raise InvalidArgument(f"Input {name!r}: values out of range for {datatype} ({info.min} to {info.max})")
    elif dtype.kind == "f":
        with np.errstate(over="ignore"):
            finite = bool(np.isfinite(arr.astype(dtype)).all())
        if not finite:
            raise InvalidArgument(f"Input {name!r}: values out of range for {datatype}")


def _decode_outputs(raw: Any) -> list[RequestedOutput] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidArgument("'outputs' must be a list")
    outputs: list[RequestedOutput] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidArgument("Each requested output is an object with a 'name'")
        params = item.get("parameters") or {}
        outputs.append(RequestedOutput(item["name"], bool(params.get("binary_data", False))))
    return outputs


def encode_response(
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: list[tuple[Tensor, bool]],
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length."""
    json_outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for tensor, binary in outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
        if binary:
            blob = _to_binary(tensor)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _to_json_data(tensor.data)
        json_outputs.append(entry)
    doc: dict[str, Any] = {"model_name": model_name, "outputs": json_outputs}
    if model_version is not None:
        doc["model_version"] = model_version
    if request_id is not None:
        doc["id"] = request_id
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _to_json_data(data: np.ndarray) -> Any:
    flat = data.reshape(-1)
    if flat.dtype.kind in "OUS":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat.tolist()]
    if flat.dtype.kind == "f" and flat.dtype.itemsize == 2:
        return flat.astype(np.float32)  # orjson has no float16
    return np.ascontiguousarray(flat)


def _to_binary(tensor: Tensor) -> bytes:
    if tensor.datatype != "BYTES":
        return np.ascontiguousarray(tensor.data).tobytes()
    parts: list[bytes] = []
    for v in tensor.data.reshape(-1).tolist():
        raw = v if isinstance(v, bytes) else str(v).encode()
        parts.append(_U32.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def tensor_from_array(name: str, data: np.ndarray) -> Tensor:
    """An output tensor for ``data``, its datatype taken from the dtype."""
    if data.dtype.kind in "US":
        data = data.astype(object)
    return Tensor(name, from_numpy_dtype(data.dtype), data.shape, data)  # numpy shapes are tuples of int
