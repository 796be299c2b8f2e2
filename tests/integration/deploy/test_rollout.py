"""Rolling updates and self-healing under steady load: no request may fail.

"Fail" means anything but HTTP 200 reaching the client: the router's retry on another replica is
part of the system under test, so a request it retried successfully counts as served.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from cnai.deploy.controller import DeploymentController
from cnai.deploy.replicas import pid_alive
from cnai.resources import ResourceStore
from cnai.settings import Settings
from tests.fixtures.servers import start_live_server
from tests.integration.deploy.conftest import FAST, SERVE_ARGS, Load, Models, apply, events_of, eventually, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_rolling_update_follows_the_alias_under_load_with_zero_failures(
    store: ResourceStore, models: Models, tmp_path: Path, cnai_home: Path
) -> None:
    plane = start_live_server(
        Settings(
            home=tmp_path / "plane", store=f"sqlite:///{tmp_path / 'plane.db'}", artifacts=(tmp_path / "a").as_uri()
        )
    )
    controller = DeploymentController(
        store, tracking_uri=plane.url, home=cnai_home, serve_args=SERVE_ARGS, alias_refresh_s=0.5, **FAST
    )
    try:
        client = MlflowClient(tracking_uri=plane.url, registry_uri=plane.url)
        client.create_registered_model("wine")
        for path in (models.v1, models.v2):
            client.create_model_version("wine", source=str(path))
        client.set_registered_model_alias("wine", "champion", "1")
        await controller.start()
        apply(store, "wine", {"model": "models:/wine@champion", "replicas": {"min": 1, "max": 1}})
        first = await eventually(lambda: (s := status(store, "wine")).get("phase") == "Ready" and s, what="v1 ready")
        assert first["model"] == {"uri": "models:/wine@champion", "resolved": "models:/wine/1", "version": "1"}

        async with Load(first["url"], "wine") as load:
            await eventually(lambda: len(load.predictions) > 50, what="load flowing")
            client.set_registered_model_alias("wine", "champion", "2")  # the alias moves: roll out v2
            done = await eventually(
                lambda: (
                    (s := status(store, "wine")).get("phase") == "Ready"
                    and s["model"]["version"] == "2"
                    and len(s["processes"]) == 1
                    and s
                ),
                what="v2 rolled out",
            )
            seen = len(load.predictions)
            await eventually(lambda: len(load.predictions) > seen + 50, what="load after the rollout")
        assert load.failures == []
        assert load.predictions[:50] == [p for p in load.predictions[:50] if p in (0, 1)]  # v1 first
        assert set(load.predictions[-50:]) == {7}  # v2 after
        assert done["processes"][0]["pid"] != first["processes"][0]["pid"]
        # The timeline: v1 rolled out, then v2 replacing it, each with its replica started and ready.
        rollouts = events_of(done, "RolloutStarted")
        assert [e["version"] for e in rollouts] == ["1", "2"]
        assert f"replacing revision {rollouts[0]['revision']}" in rollouts[1]["message"]
        assert [e["version"] for e in events_of(done, "RolloutComplete")] == ["1", "2"]
        ready = events_of(done, "ReplicaReady")
        assert [e["pid"] for e in ready] == [first["processes"][0]["pid"], done["processes"][0]["pid"]]
        stopped = await eventually(
            lambda: events_of(status(store, "wine"), "ReplicaStopped"), what="the old replica's stop recorded"
        )
        assert stopped[0]["pid"] == first["processes"][0]["pid"]
        # Recorded once the old process has exited (it drains and shuts down after leaving the
        # router, maybe after the load above ended): only now must it be gone.
        assert all(not pid_alive(p["pid"]) for p in first["processes"])
        assert f"replaced by revision {rollouts[1]['revision']}" in stopped[0]["message"]
    finally:
        await controller.stop()
        plane.stop()
        mlflow.set_tracking_uri(None)


async def test_a_killed_replica_is_restarted_and_no_request_fails(
    store: ResourceStore, controller: DeploymentController, models: Models
) -> None:
    apply(store, "heal", {"model": str(models.v1), "replicas": {"min": 2, "max": 2}})
    ready = await eventually(
        lambda: (s := status(store, "heal")).get("phase") == "Ready" and s["replicas"]["ready"] == 2 and s,
        what="two replicas ready",
    )
    before = {p["pid"] for p in ready["processes"]}
    async with Load(ready["url"], "heal", workers=6) as load:
        await eventually(lambda: len(load.predictions) > 100, what="load flowing")
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        healed = await eventually(
            lambda: (
                (s := status(store, "heal")).get("phase") == "Ready"
                and s["replicas"]["ready"] == 2
                and victim not in {p["pid"] for p in s["processes"]}
                and s
            ),
            what="replacement ready",
        )
        seen = len(load.predictions)
        await eventually(lambda: len(load.predictions) > seen + 100, what="load after healing")
    assert load.failures == []
    assert len({p["pid"] for p in healed["processes"]} - before) == 1
    failed = events_of(healed, "ReplicaFailed")
    assert [e["pid"] for e in failed] == [victim]
    assert "exited" in failed[0]["message"]
    assert controller.registry.get_sample_value("cnai_replica_restarts_total", {"deployment": "heal"}) == 1.0
