"""Canary traffic split, promotion and automatic rollback, through a real router and replicas."""

from __future__ import annotations

import httpx
import pytest

from cnai.deploy.controller import DeploymentController
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import Models, apply, eventually, infer, prediction, status

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
