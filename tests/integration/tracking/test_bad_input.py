"""Hostile and broken requests: each gets a 4xx in MLflow's error shape, and nothing is written."""

from __future__ import annotations

import http.client
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import func, select

from cnai.db import schema
from tests.fixtures.servers import LiveServer

pytestmark = pytest.mark.integration
API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        yield c


def counts(server: LiveServer) -> dict[str, int]:
    tables = ("experiments", "runs", "params", "run_tags", "metrics", "registered_models", "model_versions")
    with server.server_app_plane().engine.connect() as conn:
        return {
            t: conn.execute(select(func.count()).select_from(schema.metadata.tables[t])).scalar_one() for t in tables
        }


def assert_mlflow_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error_code", "message"}
    if code:
        assert body["error_code"] == code
    assert body["message"]


@pytest.fixture
def run_id(api: httpx.Client) -> str:
    exp = api.post(f"{API}/experiments/create", json={"name": f"bad-{uuid.uuid4().hex[:8]}"}).json()
    return str(
        api.post(f"{API}/runs/create", json={"experiment_id": exp["experiment_id"]}).json()["run"]["info"]["run_id"]
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/experiments/create", b"{not json"),
        ("/experiments/create", b'["a list"]'),
        ("/runs/create", b"\xff\xfe"),
        ("/runs/log-batch", b'{"run_id": "x", "metrics": [{"key": "a", "value": 1}'),
    ],
)
def test_malformed_json(api: httpx.Client, live_server: LiveServer, path: str, body: bytes) -> None:
    before = counts(live_server)
    response = api.post(API + path, content=body, headers={"content-type": "application/json"})
    assert_mlflow_error(response, 400)
    assert counts(live_server) == before


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code"),
    [
        ("GET", "/runs/get", {"run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/experiments/get", {"experiment_id": "99999999"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/experiments/get", {"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/registered-models/get", {"name": "nope-" + "x" * 8}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/model-versions/get", {"name": "nope", "version": "one"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/runs/log-metric", {"run_id": "e" * 32, "key": "a", "value": 1, "timestamp": 1}, 404, None),
        ("POST", "/experiments/create", {"name": 123}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/experiments/create", {"name": ""}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/experiments/create", {"name": "t", "tags": "not-a-list"}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/no/such/endpoint", {}, 404, "ENDPOINT_NOT_FOUND"),
        ("POST", "/runs/create", {"experiment_id": "0", "start_time": 10**20}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/runs/create", {"experiment_id": "0", "run_name": "x" * 251}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/model-versions/get", {"name": "m", "version": "3000000000"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/experiments/create", {"name": "n" * 501}, 400, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_unknown_ids_and_wrong_types(
    api: httpx.Client,
    live_server: LiveServer,
    method: str,
    path: str,
    payload: dict,
    status: int,
    code: str | None,
) -> None:
    before = counts(live_server)
    if method == "GET":
        response = api.get(API + path, params=payload)
    else:
        response = api.post(API + path, json=payload)
    assert_mlflow_error(response, status, code)
    assert counts(live_server) == before


@pytest.mark.parametrize(
    "payload",
    [
        {"key": "m", "value": "abc", "timestamp": 1},
        {"key": "m", "value": 1.0, "timestamp": "yesterday"},
        {"key": "m", "value": 1.0, "timestamp": 1, "step": [1]},
        {"key": "../../etc", "value": 1.0, "timestamp": 1},
        {"key": "m", "value": True, "timestamp": 1},
        {"key": "m", "value": 1.0, "timestamp": 1, "step": 2**63},
        {"key": "m", "value": 1.0, "timestamp": 1, "model_id": "m" * 65},
    ],
)
def test_wrong_metric_types_write_nothing(
    api: httpx.Client, live_server: LiveServer, run_id: str, payload: dict
) -> None:
    before = counts(live_server)
    response = api.post(f"{API}/runs/log-metric", json={"run_id": run_id, **payload})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert counts(live_server) == before


def test_batch_over_limits_writes_nothing(api: httpx.Client, live_server: LiveServer, run_id: str) -> None:
    before = counts(live_server)
    metrics = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    response = api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    # A batch with one bad entry at the end is rejected whole: no partial writes.
    mixed = [{"key": "ok", "value": 1.0, "timestamp": 1, "step": i} for i in range(10)] + [{"key": "bad", "value": "x"}]
    response = api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": mixed})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    params = [{"key": "p", "value": "1"}, {"key": "q", "value": "x" * 6001}]
    response = api.post(f"{API}/runs/log-batch", json={"run_id": run_id, "params": params})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert counts(live_server) == before


def test_oversized_body(api: httpx.Client, live_server: LiveServer, run_id: str) -> None:
    before = counts(live_server)
    huge = (
        b'{"run_id": "' + run_id.encode() + b'", "tags": [{"key": "k", "value": "' + b"x" * (17 * 1024 * 1024) + b'"}]}'
    )
    response = api.post(f"{API}/runs/log-batch", content=huge, headers={"content-type": "application/json"})
    assert_mlflow_error(response, 413, "REQUEST_TOO_LARGE")
    assert counts(live_server) == before


def _raw(server: LiveServer, method: str, raw_path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Send a path byte-for-byte (httpx would normalise dot segments away)."""
    url = urlparse(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request(method, raw_path, body=body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


@pytest.mark.parametrize(
    "raw_path",
    [
        f"{ART}/../../../../etc/passwd",
        f"{ART}/0/..%2F..%2F..%2Fetc/passwd",
        f"{ART}/%2E%2E/%2E%2E/etc/passwd",
        f"{ART}/%252E%252E/%252E%252E/etc/passwd",
        f"{ART}//etc/passwd",
        f"{ART}/%2Fetc%2Fpasswd",
        f"{ART}/0/..\\..\\windows",
        f"{ART}?path=../../etc",
        f"{ART}?path=%2E%2E/%2E%2E",
        f"{ART}?path=/etc",
    ],
)
def test_artifact_traversal_is_refused(live_server: LiveServer, raw_path: str) -> None:
    for method, body in (("GET", None), ("PUT", b"evil")):
        if "?" in raw_path and method == "PUT":
            continue
        status, data = _raw(live_server, method, raw_path, body)
        assert 400 <= status < 500, (method, raw_path, status, data[:200])
        assert b"root:" not in data
        import orjson

        assert orjson.loads(data)["error_code"] in ("INVALID_PARAMETER_VALUE", "ENDPOINT_NOT_FOUND")


@pytest.mark.parametrize(
    "filter_string",
    [
        "params.x = 'a' OR 1=1",
        "params.x = 'a'; DROP TABLE runs; --",
        "metrics.acc > 0 UNION SELECT * FROM runs",
        "tags.`x` = 'a' AND (1=1)",
        "attributes.run_id = '' OR ''=''",
        "run_name = 'x' --",
    ],
)
def test_injection_filters_are_refused(
    api: httpx.Client, live_server: LiveServer, run_id: str, filter_string: str
) -> None:
    exp_id = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]["experiment_id"]
    before = counts(live_server)
    response = api.post(f"{API}/runs/search", json={"experiment_ids": [exp_id], "filter": filter_string})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert counts(live_server) == before


def test_injection_inside_a_quoted_value_matches_nothing(
    api: httpx.Client, live_server: LiveServer, run_id: str
) -> None:
    exp_id = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]["experiment_id"]
    before = counts(live_server)
    evil = "params.x = 'a'' OR ''1''=''1' AND tags.`t'; DROP TABLE runs;--` = 'v'"
    response = api.post(f"{API}/runs/search", json={"experiment_ids": [exp_id], "filter": evil})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json().get("runs", []) == []
    assert counts(live_server) == before
    assert api.get(f"{API}/runs/get", params={"run_id": run_id}).status_code == 200


def test_bad_page_token(api: httpx.Client, run_id: str) -> None:
    response = api.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "page_token": "%%%not-base64"})
    assert_mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
