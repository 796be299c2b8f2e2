"""A deployment whose replicas cannot start says why, in its status, instead of pending forever."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnai.deploy.controller import DeploymentController
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import apply, events_of, eventually, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_replicas_that_cannot_load_their_model_are_reported(
    store: ResourceStore, controller: DeploymentController, tmp_path: Path, cnai_home: Path
) -> None:
    # Admission wants an MLflow model directory; it is gone by the time a replica loads it. No
    # await between the two lines: the controller cannot start a replica in between.
    missing = tmp_path / "no-such-model"
    missing.mkdir()
    (missing / "MLmodel").write_text("flavors: {}\n")
    apply(store, "broken", {"model": str(missing), "replicas": {"min": 1, "max": 1}})
    shutil.rmtree(missing)
    failing = await eventually(
        lambda: (s := status(store, "broken")).get("phase") == "Failing" and s, what="the Failing phase"
    )
    assert f"No MLflow model at {missing}" in failing["message"]
    assert "log: " in failing["message"]
    assert failing["replicas"]["ready"] == 0
    # Each failure is an event naming the replica and why; its log is where the id says.
    failed = events_of(failing, "ReplicaFailed")
    assert len(failed) >= 2  # Failing means it kept failing
    assert f"No MLflow model at {missing}" in failed[-1]["message"]
    assert failed[-1]["replica"] == f"primary-{failed[-1]['port']}"
    assert {e["pid"] for e in failed} <= {e["pid"] for e in events_of(failing, "ReplicaStarted")}
    assert not events_of(failing, "ReplicaReady")
    log = cnai_home / "deployments" / "broken" / f"{failed[-1]['replica']}.log"
    assert "No MLflow model at" in log.read_text()
