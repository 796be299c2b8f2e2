"""Artifacts through the mlflow-artifacts proxy with the stock client."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.integration


def test_log_list_download(client: MlflowClient, experiment_id: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("hello")
    (src / "nested" / "b.json").write_text('{"b": 1}')
    (src / "nested" / "deeper" / "c.bin").write_bytes(os.urandom(1000))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(src / "a.txt"))
        mlflow.log_artifacts(str(src / "nested"), artifact_path="nested")
        mlflow.log_text("plain text", "notes/readme.md")
        mlflow.log_dict({"k": [1, 2]}, "config.json")
    run_id = run.info.run_id
    top = {f.path: f for f in client.list_artifacts(run_id)}
    assert set(top) == {"a.txt", "nested", "notes", "config.json"}
    assert top["nested"].is_dir
    assert not top["a.txt"].is_dir
    assert top["a.txt"].file_size == 5
    inner = {f.path for f in client.list_artifacts(run_id, "nested")}
    assert inner == {"nested/b.json", "nested/deeper"}
    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "out")))
    assert (out / "a.txt").read_text() == "hello"
    assert (out / "nested" / "deeper" / "c.bin").read_bytes() == (src / "nested" / "deeper" / "c.bin").read_bytes()
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.md") == "plain text"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {"k": [1, 2]}
    assert client.list_artifacts(run_id, "does-not-exist") == []


def test_multi_megabyte_round_trip(client: MlflowClient, experiment_id: str, tmp_path: Path) -> None:
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024 + 17))  # over one 8 MiB S3 part: a streamed multipart upload
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(big), artifact_path="blobs")
    [info] = client.list_artifacts(run.info.run_id, "blobs")
    assert info.file_size == big.stat().st_size
    got = Path(client.download_artifacts(run.info.run_id, "blobs/weights.bin", str(tmp_path / "dl")))
    assert hashlib.sha256(got.read_bytes()).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()


def test_overwrite_replaces_content(client: MlflowClient, experiment_id: str, tmp_path: Path) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_text("one", "x.txt")
        mlflow.log_text("two", "x.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/x.txt") == "two"
