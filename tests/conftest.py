"""Shared fixtures: live servers per backend, and the stock mlflow client pointed at them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.kafka"]

# The stock client retries 5xx answers for minutes; a server bug must fail a test at once.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_TRACKING_USERNAME", "")
# mlflow's telemetry client fetches its config in a background thread on the first tracked client
# call; offline that fails and the thread unsets _MLFLOW_TELEMETRY_SESSION_ID in os.environ, at a
# moment of its choosing. A request the test's thread is making then iterates os.environ
# (requests' proxy lookup) and dies with KeyError: '_MLFLOW_TELEMETRY_SESSION_ID' (seen under
# load in test_rollout). Off for the tests, and so for the servers and replicas they start.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture
def cnai_home(tmp_path: Path) -> Path:
    home = tmp_path / "cnai-home"
    home.mkdir()
    return home


MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")


@pytest.fixture(autouse=True, scope="module")
def _mlflow_client_uris_stay_in_their_module() -> Iterator[None]:
    """``mlflow.set_tracking_uri``/``set_registry_uri``/``set_experiment`` also export
    MLFLOW_TRACKING_URI, MLFLOW_REGISTRY_URI and MLFLOW_EXPERIMENT_ID (the last two are never
    unset), and the fluent API remembers the active experiment: a module that points the client at
    its own server would otherwise send the next modules' calls, and their subprocesses' calls, to
    a server that has stopped, or into an experiment id of another server."""
    before = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    yield
    if "mlflow" in sys.modules:
        import mlflow
        import mlflow.tracking.fluent

        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        mlflow.tracking.fluent._active_experiment_id = None
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
