"""One live control plane per backend; every client test runs against each of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import mlflow
import pytest
from mlflow import MlflowClient

from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, postgres_database, start_live_server

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("postgres-s3", id="postgres-s3", marks=[pytest.mark.postgres, pytest.mark.s3]),
]


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("home")
    kind = request.param
    if kind == "sqlite":
        server = start_live_server(Settings(home=home))
        yield server
        server.stop()
        return
    with postgres_database() as url:
        artifacts = ""
        endpoint = ""
        if kind == "postgres-s3":
            endpoint = request.getfixturevalue("s3_endpoint")
            bucket = f"cnai-{uuid.uuid4().hex[:12]}"
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
            artifacts = f"s3://{bucket}/cnai-artifacts"
        server = start_live_server(Settings(home=home, store=url, artifacts=artifacts, s3_endpoint_url=endpoint))
        yield server
        server.stop()


@pytest.fixture
def client(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """The stock client, fluent API included, pointed at the live server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    mlflow.set_tracking_uri(live_server.url)
    yield MlflowClient(live_server.url)
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def experiment_id(client: MlflowClient) -> str:
    return client.create_experiment(f"exp-{uuid.uuid4().hex[:10]}")
