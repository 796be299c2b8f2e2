"""Canary traffic split, promotion and automatic rollback, through a real router and replicas."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from cnai.deploy.api import deploy_routes
from cnai.deploy.controller import DeploymentController
from cnai.deploy.specs import KIND
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import Models, apply, events_of, eventually, infer, prediction, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_canary_gets_its_percent_of_2000_requests(
    store: ResourceStore, controller: DeploymentController, models: Models
) -> None:
    apply(
        store,
        "split",
        {"model": str(models.v1), "replicas": {"min": 1, "max": 1}, "canary": {"model": str(models.v2), "percent": 20}},
    )
    ready = await eventually(
        lambda: (
            (s := status(store, "split")).get("phase") == "Ready" and (s.get("canary") or {}).get("ready") == 1 and s
        ),
        what="primary and canary ready",
    )
    url = ready["url"]
    canary = by_header = 0
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        for _ in range(2000):
            response = await infer(client, url, "split")
            assert response.status_code == 200, response.text
            canary += prediction(response) == 7  # only the canary's model predicts 7
            by_header += response.headers["x-cnai-target"] == "canary"
    assert canary == by_header
    assert abs(canary / 2000 * 100 - 20) <= 5


async def test_promote_reuses_the_canary_and_a_slow_canary_is_rolled_back(
    store: ResourceStore, controller: DeploymentController, models: Models
) -> None:
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Starlette(routes=deploy_routes(store))), base_url="http://t"
    )
    spec = {
        "model": str(models.v1),
        "replicas": {"min": 1, "max": 1},
        "canary": {"model": str(models.v2), "percent": 50},
    }
    apply(store, "promo", spec)
    ready = await eventually(
        lambda: (
            (s := status(store, "promo")).get("phase") == "Ready" and (s.get("canary") or {}).get("ready") == 1 and s
        ),
        what="primary and canary ready",
    )
    canary_pid = next(p["pid"] for p in ready["processes"] if p["role"] == "canary")

    answer = await api.post("/api/v1/deployments/promo/promote")
    assert answer.status_code == 200, answer.text
    assert store.get(KIND, "promo").spec["model"] == str(models.v2)
    done = await eventually(
        lambda: (
            (s := status(store, "promo")).get("phase") == "Ready"
            and s["canary"] is None
            and s["model"]["uri"] == str(models.v2)
            and len(s["processes"]) == 1
            and s
        ),
        what="promotion rolled out",
    )
    assert done["processes"][0]["pid"] == canary_pid  # the canary's ready replica became the primary
    assert [e["percent"] for e in events_of(done, "CanaryStarted")] == [50]
    promoted = events_of(done, "CanaryPromoted")
    assert len(promoted) == 1
    assert not events_of(done, "CanaryRemoved")  # a promote, not a removal
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        answers = [await infer(client, done["url"], "promo") for _ in range(20)]
    assert {prediction(r) for r in answers} == {7}

    # Nothing left to promote or roll back: 409 in the v1 error shape, spec untouched.
    again = await api.post("/api/v1/deployments/promo/rollback")
    assert again.status_code == 409
    assert again.json()["code"] == "INVALID_STATE"
    missing = await api.post("/api/v1/deployments/nope/promote")
    assert missing.status_code == 404

    # A canary whose p99 breaches an impossible threshold is removed by the controller itself.
    slow = {**spec, "model": str(models.v2)}
    slow["canary"] = {"model": str(models.v1), "percent": 50, "maxP99LatencyMs": 0.001, "minRequests": 20}
    apply(store, "promo", slow)
    await eventually(lambda: (status(store, "promo").get("canary") or {}).get("ready") == 1, what="canary ready")
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        for _ in range(60):
            response = await infer(client, done["url"], "promo")
            assert response.status_code == 200
    rolled = await eventually(
        lambda: (s := status(store, "promo")).get("lastRollback") and s["canary"] is None and s, what="auto rollback"
    )
    assert "p99" in rolled["lastRollback"]["reason"]
    assert store.get(KIND, "promo").spec["canary"] is None
    rolled_back = events_of(rolled, "CanaryRolledBack")
    assert len(rolled_back) == 1
    assert "p99" in rolled_back[0]["message"]
    await eventually(
        lambda: any("the canary was removed" in e["message"] for e in events_of(status(store, "promo"))),
        what="the canary replica's stop recorded",
    )
    assert not events_of(status(store, "promo"), "CanaryRemoved")  # the rollback event said it already
    await api.aclose()
