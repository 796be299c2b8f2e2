"""The behaviour both artifact stores share, run against each: a local directory and S3 (moto)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from cnai.artifacts import CHUNK_SIZE, ArtifactStore, FileInfo, LocalArtifactStore
from cnai.errors import InvalidArgument, NotFound

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    from cnai.artifacts.s3 import S3ArtifactStore

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return S3ArtifactStore(f"s3://{bucket}/root/prefix", endpoint_url=endpoint)


def test_round_trip_streams_in_chunks(store: ArtifactStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 777)
    assert store.write("run/model/blob.bin", io.BytesIO(data)) == len(data)
    chunks, size = store.open("run/model/blob.bin")
    received = list(chunks)
    assert size == len(data)
    assert b"".join(received) == data
    assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in received)


def test_empty_file(store: ArtifactStore) -> None:
    assert store.write_bytes("empty.txt", b"") == 0
    assert store.open("empty.txt")[1] == 0
    assert store.read_bytes("empty.txt") == b""


def test_overwrite(store: ArtifactStore) -> None:
    store.write_bytes("f.txt", b"first, longer")
    store.write_bytes("f.txt", b"second")
    assert store.read_bytes("f.txt") == b"second"
    assert store.list() == [FileInfo("f.txt", False, 6)]


def test_listing(store: ArtifactStore) -> None:
    store.write_bytes("model/MLmodel", b"12345")
    store.write_bytes("model/data/model.pkl", b"1" * 42)
    store.write_bytes("model/requirements.txt", b"")
    store.write_bytes("top.json", b"{}")
    assert store.list() == [FileInfo("model", True, None), FileInfo("top.json", False, 2)]
    assert store.list("model") == [
        FileInfo("model/MLmodel", False, 5),
        FileInfo("model/data", True, None),
        FileInfo("model/requirements.txt", False, 0),
    ]
    assert store.list("./model//data/") == [FileInfo("model/data/model.pkl", False, 42)]
    assert store.list("missing") == []
    assert store.list("top.json") == []


def test_names_that_merely_share_a_prefix_are_separate(store: ArtifactStore) -> None:
    store.write_bytes("a/x", b"1")
    store.write_bytes("ab/y", b"2")
    store.write_bytes("a.txt", b"3")
    assert store.list("a") == [FileInfo("a/x", False, 1)]
    store.delete("a")
    assert store.list() == [FileInfo("a.txt", False, 1), FileInfo("ab", True, None)]


def test_open_missing_or_directory_is_not_found(store: ArtifactStore) -> None:
    store.write_bytes("d/f.txt", b"1")
    for path in ("missing", "d", "d/", ""):
        with pytest.raises(NotFound):
            store.open(path)


def test_exists(store: ArtifactStore) -> None:
    assert not store.exists("d")
    store.write_bytes("d/e/f.txt", b"1")
    assert store.exists("d/e/f.txt")
    assert store.exists("d/e")
    assert store.exists("d")
    assert not store.exists("d/e/g.txt")
    assert not store.exists("d/e/f")


def test_delete(store: ArtifactStore) -> None:
    store.write_bytes("keep.txt", b"k")
    store.write_bytes("run/a.txt", b"a")
    store.write_bytes("run/sub/b.txt", b"b")
    store.write_bytes("run/sub/deeper/c.txt", b"c")

    store.delete("run/a.txt")
    assert not store.exists("run/a.txt")
    store.delete("run")
    assert not store.exists("run")
    assert store.list() == [FileInfo("keep.txt", False, 1)]

    with pytest.raises(NotFound):
        store.delete("run")
    with pytest.raises(InvalidArgument, match="root"):
        store.delete("")
    assert store.exists("keep.txt")


def test_deleting_the_last_file_removes_its_directory(store: ArtifactStore) -> None:
    store.write_bytes("a/b/only.txt", b"1")
    store.write_bytes("a/other.txt", b"2")
    store.delete("a/b/only.txt")
    assert not store.exists("a/b")
    assert store.list("a") == [FileInfo("a/other.txt", False, 1)]


@pytest.mark.parametrize("path", ["../escape", "a/../../escape", "/abs", "%2E%2E/x", "a\\b", "a\x00"])
def test_unsafe_paths_are_refused(store: ArtifactStore, path: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.write_bytes(path, b"x")
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.open(path)
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.list(path)
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.delete(path)
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.exists(path)
    assert store.list() == []
