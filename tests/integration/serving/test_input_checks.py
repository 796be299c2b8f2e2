"""Hostile or careless inputs are 400s, never silent wrapping, huge allocations or 500s.

Each case is what a client sent to the live server (LogisticRegression ``lr``, XGBoost ``xgb``,
a pyfunc ``boom``): out-of-range integers used to wrap (300 as UINT8 was 44), a 150-byte
binary request could claim a shape whose allocation failed with a 500, empty and NaN inputs
reached predict and came back as 500s.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from tests.fixtures import serving_models as sm

pytestmark = pytest.mark.integration


def _matrix(datatype: str, data: list[Any]) -> dict[str, Any]:
    return {"inputs": [{"name": "x", "shape": [1, 4], "datatype": datatype, "data": data}]}


OUT_OF_RANGE = {
    "INT32 past 2**31 (wrapped to 7)": _matrix("INT32", [1099511627783, 1, 1, 1]),
    "UINT8 300 (wrapped to 44)": _matrix("UINT8", [300, 1, 1, 1]),
    "UINT8 negative": _matrix("UINT8", [-1, 1, 1, 1]),
    "INT8 -129": _matrix("INT8", [-129, 1, 1, 1]),
    "FP16 overflows to inf": _matrix("FP16", [70000.0, 1, 1, 1]),
    "FP32 overflows to inf": _matrix("FP32", [1e39, 1, 1, 1]),
    "booleans for FP64": _matrix("FP64", [True, False, True, False]),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_values_that_do_not_fit_the_datatype_are_400(live: sm.LiveServing, case: str) -> None:
    r = httpx.post(f"{live.url}/v2/models/lr/infer", content=orjson.dumps(OUT_OF_RANGE[case]))
    assert r.status_code == 400, r.text
    assert "Input 'x'" in r.json()["error"]


def test_values_at_the_edge_of_the_range_are_accepted(live: sm.LiveServing) -> None:
    r = httpx.post(f"{live.url}/v2/models/lr/infer", content=orjson.dumps(_matrix("UINT8", [255, 0, 1, 2])))
    assert r.status_code == 200, r.text


def _binary(inputs: list[tuple[dict[str, Any], bytes]]) -> tuple[bytes, dict[str, str]]:
    header = orjson.dumps(
        {"inputs": [{**spec, "parameters": {"binary_data_size": len(blob)}} for spec, blob in inputs]}
    )
    body = header + b"".join(blob for _, blob in inputs)
    return body, {"inference-header-content-length": str(len(header))}


def test_binary_bytes_with_a_huge_shape_is_refused_before_allocating(live: sm.LiveServing) -> None:
    blob = struct.pack("<I", 3) + b"abc"
    body, headers = _binary([({"name": "x", "shape": [2**40], "datatype": "BYTES"}, blob)])
    assert len(body) < 200
    r = httpx.post(f"{live.url}/v2/models/mixed/infer", content=body, headers=headers)
    assert r.status_code == 400, r.text  # was a 500 MemoryError (numpy asked for 8 TiB)
    assert "elements" in r.json()["error"]
    # A shape that fits the body's size but not BYTES' 4-byte length prefixes: refused as well.
    body, headers = _binary([({"name": "x", "shape": [5], "datatype": "BYTES"}, blob)])
    r = httpx.post(f"{live.url}/v2/models/mixed/infer", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert "cannot hold 5 elements" in r.json()["error"]


@pytest.mark.parametrize("shape", [[0, 4], [4, 0], [0]])
def test_empty_input_is_400(live: sm.LiveServing, shape: list[int]) -> None:
    doc = {"inputs": [{"name": "x", "shape": shape, "datatype": "FP64", "data": []}]}
    r = httpx.post(f"{live.url}/v2/models/lr/infer", content=orjson.dumps(doc))
    assert r.status_code == 400, r.text
    assert "no elements" in r.json()["error"]


def test_empty_invocations_is_400(live: sm.LiveServing) -> None:
    doc = {"dataframe_split": {"columns": sm.FEATURES, "data": []}}
    r = httpx.post(f"{live.url}/invocations", content=orjson.dumps(doc), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "BAD_REQUEST"


def _nan_binary(model: str, value: float) -> httpx.Response:
    blob = np.array([[value, 0.5, 0.5, 0.5]], dtype="<f8").tobytes()
    body, headers = _binary([({"name": "x", "shape": [1, 4], "datatype": "FP64"}, blob)])
    return httpx.post(f"{model}", content=body, headers=headers)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nan_for_a_model_that_refuses_it_is_400(live: sm.LiveServing, value: float) -> None:
    r = _nan_binary(f"{live.url}/v2/models/lr/infer", value)
    assert r.status_code == 400, r.text  # was LogisticRegression's ValueError: a 500
    assert "NaN or infinite values" in r.json()["error"]
    assert "'lr'" in r.json()["error"]
    rows = {"dataframe_split": {"columns": sm.FEATURES, "data": [[None, 0.5, 0.5, 0.5]]}}
    r = httpx.post(f"{live.url}/invocations", content=orjson.dumps(rows), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text


def test_nan_reaches_models_that_take_it(live: sm.LiveServing) -> None:
    # XGBoost reads NaN as a missing value.
    r = _nan_binary(f"{live.url}/v2/models/xgb/infer", math.nan)
    assert r.status_code == 200, r.text
    # A pyfunc model decides for itself (this one sums the row; NaN is not negative).
    doc = {"dataframe_split": {"columns": ["a", "b"], "data": [[None, 1.0]]}}
    r = httpx.post(
        f"{live.url}/models/boom/invocations", content=orjson.dumps(doc), headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
