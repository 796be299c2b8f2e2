"""A deployment whose replicas cannot start says why, in its status, instead of pending forever."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnai.deploy.controller import DeploymentController
from cnai.resources import ResourceStore
from tests.integration.deploy.conftest import apply, eventually, status

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_replicas_that_cannot_load_their_model_are_reported(
    store: ResourceStore, controller: DeploymentController, tmp_path: Path
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
