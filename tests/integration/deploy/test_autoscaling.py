"""Autoscaling end to end with short windows: up under load, down after it, to zero when idle,
and the first request after scale-to-zero is held by the router and served."""

from __future__ import annotations

import httpx
import pytest

from cnai.deploy.controller import DeploymentController
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import Load, Models, apply, events_of, eventually, infer, prediction, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_scales_up_under_load_back_down_to_zero_and_serves_the_first_request(
    store: ResourceStore, controller: DeploymentController, models: Models
) -> None:
    apply(
        store,
        "elastic",
        {
            "model": str(models.v1),
            "replicas": {"min": 0, "max": 3},
            "autoscaling": {
                "targetConcurrency": 1,
                "stableWindowSeconds": 2,
                "panicWindowSeconds": 1,
                "scaleToZeroAfterSeconds": 2,
            },
        },
    )
    idle = await eventually(
        lambda: (s := status(store, "elastic")).get("phase") == "ScaledToZero" and not s["processes"] and s,
        what="scaled to zero while idle",
    )

    # The first request after scale-to-zero waits at the router for a replica, then is served.
    async with httpx.AsyncClient(trust_env=False, timeout=90) as client:
        first = await infer(client, idle["url"], "elastic")
    assert first.status_code == 200, first.text
    assert prediction(first) in (0, 1)

    async with Load(idle["url"], "elastic", workers=6) as load:
        busy = await eventually(
            lambda: (s := status(store, "elastic"))["replicas"]["ready"] >= 2 and s, what="scaled up under load"
        )
    assert busy["replicas"]["desired"] >= 2
    assert load.failures == []

    await eventually(
        lambda: (s := status(store, "elastic")).get("phase") == "ScaledToZero" and not s["processes"],
        what="scaled back down to zero after the load",
    )
    ups = controller.registry.get_sample_value(
        "cnai_autoscaler_decisions_total", {"deployment": "elastic", "action": "scale_up"}
    )
    downs = controller.registry.get_sample_value(
        "cnai_autoscaler_decisions_total", {"deployment": "elastic", "action": "scale_down"}
    )
    assert (ups or 0) >= 2
    assert (downs or 0) >= 2
    # The same decisions as events, with the concurrency each one saw.
    history = status(store, "elastic")
    scaled_up, scaled_down = events_of(history, "ScaledUp"), events_of(history, "ScaledDown")
    assert len(scaled_up) >= 2
    assert len(scaled_down) >= 2
    assert all(e["to"] > e["from"] and "concurrency stable" in e["message"] for e in scaled_up)
    assert any(e["to"] >= 2 for e in scaled_up)
    assert any(e["concurrency"] > 0 or e["panicConcurrency"] > 0 for e in scaled_up)
    assert all(e["to"] < e["from"] for e in scaled_down)
    assert scaled_down[-1]["to"] == 0
    assert scaled_down[-1]["reason"] == "idle: scale to zero"
    stopped = events_of(history, "ReplicaStopped")
    assert stopped
    assert all("scaled down" in e["message"] for e in stopped)
    assert len(events_of(history, "ReplicaReady")) >= 2
