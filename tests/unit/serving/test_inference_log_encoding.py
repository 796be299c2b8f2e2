"""The inference log's fast path (tolist) writes exactly the JSON orjson writes for the arrays."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from cnai.serving.inference_log import _columns, _jsonable


def _numpy_json(arr: np.ndarray) -> bytes:
    return orjson.dumps(np.ascontiguousarray(arr), option=orjson.OPT_SERIALIZE_NUMPY)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32, np.uint64, np.bool_])
def test_small_arrays_serialise_as_orjson_writes_them(dtype: type) -> None:
    rng = np.random.default_rng(7)
    if dtype is np.float64:
        arr = rng.normal(size=40) * 10.0 ** rng.integers(-30, 30, size=40)
        arr[:4] = [np.nan, np.inf, -np.inf, -0.0]
    elif dtype is np.bool_:
        arr = rng.integers(0, 2, size=40).astype(bool)
    else:
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=40, dtype=dtype, endpoint=True)
    assert orjson.dumps(_jsonable(arr), option=orjson.OPT_SERIALIZE_NUMPY) == _numpy_json(arr)
    matrix = arr.reshape(10, 4)
    got = orjson.dumps(_columns(matrix, ["a", "b", "c", "d"]), option=orjson.OPT_SERIALIZE_NUMPY)
    want = b"{" + b",".join(b'"%s":%s' % (n.encode(), _numpy_json(matrix[:, i])) for i, n in enumerate("abcd")) + b"}"
    assert got == want


def test_float32_keeps_its_precision() -> None:
    arr = np.array([[0.1, 0.2]], dtype=np.float32)
    doc = orjson.loads(orjson.dumps(_columns(arr, None), option=orjson.OPT_SERIALIZE_NUMPY))
    assert doc == {"f0": [0.1], "f1": [0.2]}  # not 0.10000000149011612
