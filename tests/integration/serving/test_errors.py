"""Bad requests get 400/404/413 with {"error": ...}; a failing predict is a 500 for that request only."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures import serving_models as sm

pytestmark = pytest.mark.integration


def _col(name: str, data: list[Any], datatype: str = "FP64") -> dict[str, Any]:
    return {"name": name, "shape": [len(data)], "datatype": datatype, "data": data}


GOOD = [_col(f, [0.5]) for f in sm.FEATURES]

BAD_OIP = {
    "wrong shape (features)": {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
    "shape does not match data": {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
    "3-d tensor": {"inputs": [{"name": "x", "shape": [1, 2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
    "wrong datatype (bytes for a double)": {"inputs": [*GOOD[:3], _col("petal_width", ["a"], "BYTES")]},
    "strings in FP64 data": {"inputs": [*GOOD[:3], _col("petal_width", ["a"])]},
    "fractions in INT64 data": {
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1.5, 2, 3, 4]}]
    },
    "unknown datatype": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP128", "data": [1, 2, 3, 4]}]},
    "missing input": {"inputs": GOOD[:3]},
    "extra input": {"inputs": [*GOOD, _col("extra", [1.0])]},
    "rows differ": {"inputs": [*GOOD[:3], _col("petal_width", [1.0, 2.0])]},
    "no inputs": {"inputs": []},
    "unknown output": {"inputs": GOOD, "outputs": [{"name": "nope"}]},
    "not an object": [1, 2],
}


@pytest.mark.parametrize("case", list(BAD_OIP))
def test_bad_oip_input_is_400(live: sm.LiveServing, case: str) -> None:
    r = httpx.post(f"{live.url}/v2/models/lr/infer", content=orjson.dumps(BAD_OIP[case]))
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str)
    assert r.json()["error"]


def test_non_json_is_400(live: sm.LiveServing) -> None:
    r = httpx.post(f"{live.url}/v2/models/lr/infer", content=b"{not json")
    assert r.status_code == 400
    assert "JSON" in r.json()["error"]
    r = httpx.post(f"{live.url}/invocations", content=b"nope", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error_code"] == "BAD_REQUEST"


def test_bad_binary_header_is_400(live: sm.LiveServing) -> None:
    header = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "parameters": {"binary_data_size": 32}}]}
    )
    short = header + b"\0" * 16  # claims 32 bytes, sends 16
    r = httpx.post(
        f"{live.url}/v2/models/lr/infer",
        content=short,
        headers={"inference-header-content-length": str(len(header))},
    )
    assert r.status_code == 400, r.text
    r = httpx.post(f"{live.url}/v2/models/lr/infer", content=short, headers={"inference-header-content-length": "x"})
    assert r.status_code == 400


def test_oversized_body_is_413(live: sm.LiveServing) -> None:
    limit = live.app.settings.max_body_bytes
    r = httpx.post(f"{live.url}/v2/models/lr/infer", content=b" " * (limit + 1))
    assert r.status_code == 413
    assert "limit" in r.json()["error"]


@pytest.mark.parametrize(
    "path", ["/v2/models/missing/infer", "/v2/models/lr/versions/9/infer", "/models/missing/invocations", "/nope"]
)
def test_unknown_model_version_or_route_is_404(live: sm.LiveServing, path: str) -> None:
    r = httpx.post(f"{live.url}{path}", json={"inputs": GOOD})
    assert r.status_code == 404
    assert r.json()["error"]


def test_predict_raising_is_500_for_that_request_only(live: sm.LiveServing) -> None:
    ok = {"inputs": [_col("a", [1.0]), _col("b", [2.0])]}
    bad = {"inputs": [_col("a", [-1.0]), _col("b", [2.0])]}
    r = httpx.post(f"{live.url}/v2/models/boom/infer", json=bad, headers={"x-request-id": "bad-1"})
    assert r.status_code == 500
    assert "negative input" in r.json()["error"]
    assert r.headers["x-request-id"] == "bad-1"
    r = httpx.post(f"{live.url}/v2/models/boom/infer", json=ok)
    assert r.status_code == 200
    assert r.json()["outputs"][0]["data"] == [3.0]
    assert httpx.get(f"{live.url}/v2/health/live").status_code == 200


def test_failing_request_does_not_fail_its_batch_mates(live: sm.LiveServing) -> None:
    import asyncio

    async def run() -> list[int]:
        async with httpx.AsyncClient(base_url=live.url) as client:
            bodies = [{"inputs": [_col("a", [-1.0 if i % 4 == 0 else 1.0]), _col("b", [1.0])]} for i in range(24)]
            responses = await asyncio.gather(*(client.post("/v2/models/boom/infer", json=b) for b in bodies))
            return [r.status_code for r in responses]

    codes = asyncio.run(run())
    assert codes == [500 if i % 4 == 0 else 200 for i in range(24)]


def test_wrong_method_is_405(live: sm.LiveServing) -> None:
    assert httpx.get(f"{live.url}/v2/models/lr/infer").status_code == 405
