"""Uploads stream to S3: no spool file, bounded memory, and nothing left behind by a failed upload.

Against the real S3-compatible server the fixtures start (moto). The end-to-end tests run
``cnai server`` as a child process with a file-size limit (RLIMIT_FSIZE) below the artifact's
size: a server that spooled the upload to a temporary file would fail the write with EFBIG.
"""

from __future__ import annotations

import hashlib
import os
import resource
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cnai.artifacts.s3 import MIN_PART_SIZE, STREAM_PART_SIZE, S3ArtifactStore
from cnai.tracking.api.artifacts import routes
from tests.fixtures.s3 import s3_client
from tests.fixtures.servers import ServerProcess, start_server_process

pytestmark = [pytest.mark.integration, pytest.mark.s3]

FILE_LIMIT = 16 * 1024 * 1024  # what the server process may write to any one file
ARTIFACT_BYTES = 36 * 1024 * 1024 + 12_345  # over two limits' worth, several parts


@pytest.fixture
def client(s3_endpoint: str) -> Any:
    return s3_client(s3_endpoint)


def _uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    return list(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def _keys(client: Any, bucket: str) -> list[str]:
    return [obj["Key"] for obj in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _store(endpoint: str, bucket: str) -> S3ArtifactStore:
    store = S3ArtifactStore(f"s3://{bucket}/p", endpoint_url=endpoint)
    store._part_size = MIN_PART_SIZE  # smallest parts S3 allows: fewer bytes for the same shape
    return store


# --- the store's writer ---------------------------------------------------------------------------


def test_a_streamed_write_is_invisible_until_commit_then_whole(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    store = _store(s3_endpoint, s3_bucket)
    data = os.urandom(2 * MIN_PART_SIZE + 4321)
    out = store.writer("dir/big.bin")
    for start in range(0, len(data), 777_777):  # odd chunk sizes: parts are cut by the writer
        out.write(data[start : start + 777_777])
    assert _keys(client, s3_bucket) == []  # two parts are up, the object does not exist yet
    assert len(_uploads(client, s3_bucket)) == 1
    assert out.commit() == len(data)
    assert client.head_object(Bucket=s3_bucket, Key="p/dir/big.bin")["ETag"].strip('"').endswith("-3")
    assert store.read_bytes("dir/big.bin") == data
    assert _uploads(client, s3_bucket) == []


def test_a_small_body_is_one_put(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    store = _store(s3_endpoint, s3_bucket)
    out = store.writer("small.txt")
    out.write(b"hello ")
    out.write(b"world")
    assert out.commit() == 11
    assert "-" not in client.head_object(Bucket=s3_bucket, Key="p/small.txt")["ETag"]
    assert store.read_bytes("small.txt") == b"hello world"
    empty = store.writer("empty.txt")
    assert empty.commit() == 0
    assert store.read_bytes("empty.txt") == b""


def test_an_aborted_write_leaves_no_object_and_no_upload(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    store = _store(s3_endpoint, s3_bucket)
    store.write_bytes("keep.bin", b"the old version")
    out = store.writer("keep.bin")
    out.write(os.urandom(3 * MIN_PART_SIZE))
    assert len(_uploads(client, s3_bucket)) == 1
    out.abort()
    out.abort()  # twice is harmless
    assert _uploads(client, s3_bucket) == []
    assert store.read_bytes("keep.bin") == b"the old version"


# --- the API route, in process ------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_and_its_upload_aborted(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    store = _store(s3_endpoint, s3_bucket)
    limit = 3 * MIN_PART_SIZE
    app = Starlette(routes=routes(["/api/2.0/mlflow-artifacts"], store, limit))

    def body() -> Iterator[bytes]:  # chunked: the size is only known by reading
        for _ in range(4):
            yield os.urandom(MIN_PART_SIZE)

    with TestClient(app) as http:
        streamed = http.put("/api/2.0/mlflow-artifacts/artifacts/over.bin", content=body())
        assert streamed.status_code == 413, streamed.text
        declared = http.put(
            "/api/2.0/mlflow-artifacts/artifacts/over.bin",
            content=b"x",
            headers={"Content-Length": str(limit + 1)},
        )
        assert declared.status_code == 413
    assert _keys(client, s3_bucket) == []
    assert _uploads(client, s3_bucket) == []


# --- end to end: cnai server process, stock mlflow client ---------------------------------------


@pytest.fixture
def s3_server(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a failed upload fails now, not in minutes
    server = start_server_process(
        tmp_path / "home",
        f"sqlite:///{tmp_path / 'home' / 'cnai.db'}",
        f"s3://{s3_bucket}/artifacts",
        "--s3-endpoint-url",
        s3_endpoint,
    )
    # No file the server writes may reach the artifact's size: not a spool, not a temp copy.
    resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    yield server
    server.stop()


def test_stock_client_uploads_a_large_artifact_without_a_spool_file(
    s3_server: ServerProcess, s3_bucket: str, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", s3_server.url)
    mlflow.set_tracking_uri(s3_server.url)
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(ARTIFACT_BYTES))
    mlflow_client = MlflowClient(s3_server.url)
    experiment = mlflow_client.create_experiment(f"exp-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(big), artifact_path="blobs")
    [info] = mlflow_client.list_artifacts(run.info.run_id, "blobs")
    assert info.file_size == ARTIFACT_BYTES
    got = Path(mlflow_client.download_artifacts(run.info.run_id, "blobs/weights.bin", str(tmp_path / "dl")))
    assert hashlib.sha256(got.read_bytes()).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    # It went up as a multipart upload of 8 MiB parts, and none is left open.
    [key] = [k for k in _keys(client, s3_bucket) if k.endswith("blobs/weights.bin")]
    parts = -(-ARTIFACT_BYTES // STREAM_PART_SIZE)
    assert client.head_object(Bucket=s3_bucket, Key=key)["ETag"].strip('"').endswith(f"-{parts}")
    assert _uploads(client, s3_bucket) == []


def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    s3_server: ServerProcess, s3_bucket: str, client: Any
) -> None:
    host, port = s3_server.url.removeprefix("http://").split(":")
    total = 40 * 1024 * 1024
    sent = 0
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            (
                f"PUT /api/2.0/mlflow-artifacts/artifacts/0/run/artifacts/half.bin HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nContent-Length: {total}\r\n\r\n"
            ).encode()
        )
        chunk = os.urandom(1024 * 1024)
        deadline = time.monotonic() + 60
        # Send until the server is visibly streaming: a multipart upload with a part stored in it
        # (a part is sent while the next one fills, so on a busy machine it lands a little later).
        while not _parts_stored(client, s3_bucket) or sent < 2 * STREAM_PART_SIZE + len(chunk):
            assert sent + len(chunk) < total, "the server never stored a part while the body came in"
            assert time.monotonic() < deadline
            sock.sendall(chunk)
            sent += len(chunk)
    # The socket is closed with three quarters of the body missing.
    deadline = time.monotonic() + 30
    while _uploads(client, s3_bucket):
        assert time.monotonic() < deadline, "the multipart upload was not aborted after the disconnect"
        time.sleep(0.1)
    assert _keys(client, s3_bucket) == []


def _parts_stored(client: Any, bucket: str) -> bool:
    uploads = _uploads(client, bucket)
    return len(uploads) == 1 and bool(
        client.list_parts(Bucket=bucket, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"]).get("Parts")
    )
