"""Property-based fuzzing of the MLflow REST API, the artifact proxy and ``/api/v1``.

Every endpoint in ``endpoints.TARGETS`` gets generated requests (hostile and boundary values,
wrong types, NaN/Infinity, deep nesting, unicode, very long strings, ``..`` paths, wrong methods
and content types, missing fields) against a real control plane on SQLite and on PostgreSQL,
in process. Properties, checked on every request:

* no response is a 5xx (the run is single-threaded, so even 503 TEMPORARILY_UNAVAILABLE, which is
  for lock contention, would be a bug here);
* every 4xx body has its protocol's error shape: MLflow's ``{error_code, message}``, and
  ``{error, code}`` under ``/api/v1``;
* a refused (4xx) request writes nothing: every table's rows and every file under the server's
  home are the same before and after it;
* no request, accepted or refused, leaves a file outside the artifact root;
* an accepted resource document is stored in a form that validates again, to itself (desired
  state a controller can read back).

Why Hypothesis strategies of our own rather than schemathesis over a published OpenAPI
description: cnai's routes carry no field schemas, so an OpenAPI document would be a second,
hand-written description of ~70 endpoints that drifts from the handlers; schemathesis would then
mostly generate schema-conforming values, and the hostile classes that matter here (proto3's
"NaN" strings, int64 edges, filter-language strings, ``..`` in artifact paths, documents whose
name must match their path) need custom strategies in either tool. Driving the app in process
lets the store be snapshotted around each single request, which is what "nothing written" needs.
Instead, ``test_every_route_is_fuzzed`` keeps the table complete against the app's own routes.

Reproducible by default (derandomized, no example database). ``CNAI_FUZZ_EXAMPLES=N`` sets the
examples per endpoint (default 25 on SQLite, 60% of that on PostgreSQL), ``CNAI_FUZZ_RANDOM=1``
draws fresh ones: ``CNAI_FUZZ_EXAMPLES=500 CNAI_FUZZ_RANDOM=1 pytest tests/integration/fuzz``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine
from starlette.routing import Route
from starlette.testclient import TestClient

from cnai.auth import Role
from cnai.auth.policy import decide
from cnai.errors import CnaiError
from cnai.resources import ResourceStore
from cnai.server.app import create_app
from cnai.settings import Settings
from tests.fixtures.servers import postgres_database
from tests.integration.fuzz import seed
from tests.integration.fuzz.endpoints import READER_TOKEN, TARGETS, Case, Target, cases, route_paths
from tests.integration.fuzz.snapshot import Snapshot, outside, take
from tests.integration.fuzz.tally import TALLY

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("CNAI_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("CNAI_FUZZ_RANDOM", "") == "1"
ADMIN_TOKEN = "fuzz-admin-token"


def fuzz_settings(backend: str) -> settings:
    # PostgreSQL gets 60% of the examples: its cases cost about twice SQLite's (network round
    # trips for every table digest), and both together stay near a minute and a half.
    examples = EXAMPLES if backend == "sqlite" else max(5, EXAMPLES * 3 // 5)
    return settings(
        max_examples=examples,
        derandomize=not RANDOM,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


@dataclass
class Harness:
    backend: str
    client: TestClient
    engine: Engine
    root: Path
    artifact_root: Path
    snapshot: Snapshot
    resources: ResourceStore
    reader_token: str

    def check(self, target: Target, case: Case) -> None:
        before = self.snapshot
        headers = case.headers
        if headers.get("authorization") == f"Bearer {READER_TOKEN}":
            headers = {**headers, "authorization": f"Bearer {self.reader_token}"}
        response = self.client.request(case.method, case.url, content=case.content, headers=headers)
        after = take(self.engine, self.root)
        self.snapshot = after
        TALLY.cases[target.family] += 1
        TALLY.endpoints.add(target.id)
        TALLY.backends.add(self.backend)
        seen = f"{case.describe()}\n-> {response.status_code} {response.text[:500]}"

        if case.variant == "as reader" and decide(case.method, case.url.split("?")[0]).role != Role.READER:
            TALLY.reader_writes += 1
            if response.status_code != 403:
                pytest.fail(f"a reader's write was not refused with 403\n{seen}")

        escaped = outside(after, self.artifact_root, self.root)
        if escaped:
            TALLY.escaped_writes += 1
            pytest.fail(f"files written outside the artifact root {escaped}\n{seen}")
        if response.status_code >= 500:
            TALLY.server_errors += 1
            pytest.fail(f"5xx\n{seen}")
        if response.status_code >= 400:
            TALLY.refused += 1
            changed = before.differences(after)
            if changed:
                TALLY.refused_writes += 1
                pytest.fail(f"a refused request wrote: {changed}\n{seen}")
            if case.method != "HEAD" and not _error_shape_ok(case, response.content):
                TALLY.wrong_shapes += 1
                pytest.fail(f"error body not in the protocol's shape\n{seen}")
        else:
            if target.kind == "document" and case.method == "PUT":
                self._check_stored_spec(response.json()["resource"], seen)
            if target.reseed:
                seed.ensure(self.client)
                self.snapshot = take(self.engine, self.root)

    def _check_stored_spec(self, resource: dict[str, Any], seen: str) -> None:
        spec = resource["spec"]
        try:
            again = self.resources.validators[resource["kind"]](spec)
        except CnaiError as exc:
            pytest.fail(f"the stored spec does not validate again: {exc.message}\n{seen}")
        assert again == spec, f"the stored spec is not normalised: {again} != {spec}\n{seen}"


def _error_shape_ok(case: Case, body: bytes) -> bool:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(parsed, dict):
        return False
    keys = ("error", "code") if case.url.startswith("/api/v1/") else ("error_code", "message")
    return all(isinstance(parsed.get(k), str) and parsed[k] for k in keys)


BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("fuzz")
    # The home sits a few levels down, so a write that climbs out of the artifact root with a few
    # ".." still lands under ``root`` and is caught.
    home = root / "a" / "b" / "c" / "home"
    # "" is the default store: SQLite under the home.
    with postgres_database() if request.param == "postgres" else contextlib.nullcontext("") as store:
        # An admin's bootstrap token, sent with every case: the run reaches every route (tokens and
        # audit included), and a token created by a case does not turn authentication on midway.
        app = create_app(Settings(home=home, store=store, auth_token=ADMIN_TOKEN))
        engine = app.state.plane.engine
        # Loopback base URL: the Host a local client sends.
        with TestClient(
            app,
            base_url="http://127.0.0.1",
            raise_server_exceptions=False,
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as client:
            seed.ensure(client)
            reader = client.post("/api/v1/tokens", json={"name": "fuzz-reader", "role": "reader"}).json()["token"]
            plane = app.state.plane
            snapshot = take(engine, root)
            yield Harness(request.param, client, engine, root, home / "artifacts", snapshot, plane.resources, reader)
        engine.dispose()


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_fuzz(harness: Harness, target: Target) -> None:
    @fuzz_settings(harness.backend)
    @given(case=cases(target))
    def one(case: Case) -> None:
        harness.check(target, case)

    one()


def test_every_route_is_fuzzed(tmp_path: Path) -> None:
    """A route of the MLflow API, the artifact proxy or /api/v1 with no fuzz target fails here."""
    app = create_app(Settings(home=tmp_path))
    fuzzed = {(path, t.method) for t in TARGETS for path in route_paths(t)}
    served = {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route)
        and route.path.startswith(("/api/", "/ajax-api/"))
        and "server-info" not in route.path
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert served - fuzzed == set(), "routes without a fuzz target"
    assert fuzzed - served == set(), "fuzz targets without a route"
