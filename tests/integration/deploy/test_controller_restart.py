"""Desired state lives in the database: a controller killed with SIGKILL in the middle of a
rolling update is replaced by a fresh one that adopts or removes what its predecessor started
and finishes the rollout, leaving no orphan process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cnai.deploy.controller import DeploymentController
from cnai.deploy.replicas import pid_alive
from cnai.deploy.specs import KIND
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import (
    FAST,
    SERVE_ARGS,
    Models,
    apply,
    events_of,
    eventually,
    infer,
    kill_recorded_processes,
    prediction,
    status,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_fresh_controller_converges_after_the_last_was_killed_mid_rollout(
    store: ResourceStore, models: Models, cnai_home: Path
) -> None:
    url = str(store.engine.url)
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.deploy.controller_process", url, str(cnai_home)],
        stdout=(cnai_home / "controller.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    fresh: DeploymentController | None = None
    recorded: set[int] = set()
    try:
        apply(store, "phoenix", {"model": str(models.v1), "replicas": {"min": 1, "max": 1}})
        before = await eventually(
            lambda: (s := status(store, "phoenix")).get("phase") == "Ready" and s, what="v1 ready"
        )
        apply(store, "phoenix", {"model": str(models.v2), "replicas": {"min": 1, "max": 1}})
        mid = await eventually(
            lambda: len((s := status(store, "phoenix")).get("processes") or []) == 2 and s,
            what="the rollout's new replica recorded",
        )
        os.kill(first.pid, signal.SIGKILL)  # mid-rollout: old replica serving, new one starting
        first.wait()
        recorded = {p["pid"] for p in mid["processes"]}
        assert all(pid_alive(pid) for pid in recorded)  # replicas outlive their controller

        fresh = DeploymentController(store, tracking_uri="", home=cnai_home, serve_args=SERVE_ARGS, **FAST)
        await fresh.start()
        resource = store.get(KIND, "phoenix")
        done = await eventually(
            lambda: (
                (s := status(store, "phoenix")).get("phase") == "Ready"
                and s["model"]["uri"] == str(models.v2)
                and len(s["processes"]) == 1
                and store.get(KIND, "phoenix").observed_generation == resource.generation
                and s
            ),
            what="the fresh controller finished the rollout",
        )
        assert done["port"] == before["port"]  # clients keep their URL across the restart
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            answers = [await infer(client, done["url"], "phoenix") for _ in range(10)]
        assert {prediction(r) for r in answers} == {7}
        # The old replica is drained and stopped in the background: wait for it to be gone.
        current = {p["pid"] for p in done["processes"]}
        await eventually(lambda: {pid for pid in recorded if pid_alive(pid)} == current, what="no orphans left")
        assert current <= recorded  # the v2 replica the dead controller started was adopted, not restarted
        # The dead controller's events survived it, and the fresh one said what it adopted.
        final = status(store, "phoenix")
        assert {e["pid"] for e in events_of(final, "ReplicaStarted")} == recorded
        assert current <= {e["pid"] for e in events_of(final, "ReplicaAdopted")} <= recorded
        assert len(events_of(final, "RolloutStarted")) == 2  # v1, then v2: the restart is no new roll-out
        assert len(events_of(final, "RolloutComplete")) == 2  # the fresh controller finished the second
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        if fresh is not None:
            await fresh.stop()
        kill_recorded_processes(store)
        for pid in recorded:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
