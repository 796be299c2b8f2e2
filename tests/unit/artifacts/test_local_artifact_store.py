from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from cnai.artifacts import CHUNK_SIZE, FileInfo, LocalArtifactStore
from cnai.artifacts.local import TMP_PREFIX
from cnai.errors import InvalidArgument, NotFound


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def store(root: Path) -> LocalArtifactStore:
    return LocalArtifactStore(root)


class _FailingReader(io.RawIOBase):
    """Hands out some bytes, then fails like a client that disconnects mid-upload."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._good.read(size)
        if not data:
            raise ConnectionResetError("client went away")
        return data


def test_root_is_created_on_first_write(store: LocalArtifactStore, root: Path) -> None:
    assert store.root_uri == root.as_uri()
    assert store.list() == []
    assert not store.exists("")
    store.write_bytes("a.txt", b"x")
    assert root.is_dir()
    assert store.exists("")


def test_multi_megabyte_round_trip_streams_in_chunks(store: LocalArtifactStore) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 12345)
    assert store.write("big/blob.bin", io.BytesIO(data)) == len(data)
    chunks, size = store.open("big/blob.bin")
    received = list(chunks)
    assert size == len(data)
    assert b"".join(received) == data
    assert all(len(chunk) <= CHUNK_SIZE for chunk in received)
    assert len(received) == 4


def test_empty_file(store: LocalArtifactStore) -> None:
    assert store.write_bytes("empty", b"") == 0
    chunks, size = store.open("empty")
    assert (list(chunks), size) == ([], 0)
    assert store.list() == [FileInfo("empty", False, 0)]


def test_writes_from_a_non_seekable_stream(store: LocalArtifactStore) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as w:
        w.write(b"piped bytes")
    with os.fdopen(read_end, "rb") as r:
        assert store.write("p.txt", r) == len(b"piped bytes")
    assert store.read_bytes("p.txt") == b"piped bytes"


def test_nested_listing_reports_sizes_relative_to_the_root(store: LocalArtifactStore) -> None:
    store.write_bytes("model/MLmodel", b"flavors: {}\n")
    store.write_bytes("model/data/model.pkl", b"\x00" * 100)
    store.write_bytes("model/data/extra/x.json", b"{}")
    store.write_bytes("metrics.json", b"[]")

    assert store.list() == [
        FileInfo("metrics.json", False, 2),
        FileInfo("model", True, None),
    ]
    assert store.list("model") == [
        FileInfo("model/MLmodel", False, 12),
        FileInfo("model/data", True, None),
    ]
    assert store.list("model/data/") == [
        FileInfo("model/data/extra", True, None),
        FileInfo("model/data/model.pkl", False, 100),
    ]


def test_listing_a_file_or_a_missing_directory_is_empty(store: LocalArtifactStore) -> None:
    store.write_bytes("a/f.txt", b"1")
    assert store.list("a/f.txt") == []
    assert store.list("nope") == []
    assert store.list("a/f.txt/below") == []


def test_overwrite_replaces_content(store: LocalArtifactStore) -> None:
    store.write_bytes("f.txt", b"a much longer first version")
    store.write_bytes("f.txt", b"short")
    assert store.read_bytes("f.txt") == b"short"
    assert store.list() == [FileInfo("f.txt", False, 5)]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(store: LocalArtifactStore, root: Path) -> None:
    store.write_bytes("f.txt", b"old")
    with pytest.raises(ConnectionResetError):
        store.write("f.txt", _FailingReader(b"new but incomplete"))
    assert store.read_bytes("f.txt") == b"old"
    assert sorted(p.name for p in root.iterdir()) == ["f.txt"]


def test_files_are_readable_like_ordinary_files(store: LocalArtifactStore, root: Path) -> None:
    store.write_bytes("f.txt", b"x")
    assert stat.S_IMODE((root / "f.txt").stat().st_mode) == 0o644


def test_open_missing_or_directory_is_not_found(store: LocalArtifactStore) -> None:
    store.write_bytes("d/f.txt", b"1")
    for path in ("missing.txt", "d", "", "d/f.txt/x"):
        with pytest.raises(NotFound):
            store.open(path)


def test_delete_file_and_tree(store: LocalArtifactStore, root: Path) -> None:
    store.write_bytes("keep.txt", b"k")
    store.write_bytes("run/a.txt", b"a")
    store.write_bytes("run/sub/b.txt", b"b")

    store.delete("run/sub/b.txt")
    assert not store.exists("run/sub/b.txt")
    # The directory the delete emptied goes too, as it does in S3.
    assert not store.exists("run/sub")
    assert store.list("run") == [FileInfo("run/a.txt", False, 1)]

    store.write_bytes("run/sub/c.txt", b"c")
    store.delete("run")
    assert store.list() == [FileInfo("keep.txt", False, 1)]
    assert root.is_dir()  # the root is never pruned


def test_delete_missing_is_not_found(store: LocalArtifactStore) -> None:
    with pytest.raises(NotFound):
        store.delete("nothing/here")


def test_delete_root_is_refused(store: LocalArtifactStore) -> None:
    store.write_bytes("a.txt", b"1")
    for path in ("", ".", "./"):
        with pytest.raises(InvalidArgument, match="root"):
            store.delete(path)
    assert store.exists("a.txt")


def test_exists(store: LocalArtifactStore) -> None:
    store.write_bytes("d/f.txt", b"1")
    assert store.exists("d/f.txt")
    assert store.exists("d")
    assert store.exists("d/")
    assert not store.exists("d/g.txt")


def test_write_onto_a_directory_or_below_a_file_is_refused(store: LocalArtifactStore) -> None:
    store.write_bytes("d/f.txt", b"1")
    with pytest.raises(InvalidArgument, match="directory"):
        store.write_bytes("d", b"x")
    with pytest.raises(InvalidArgument, match="is a file"):
        store.write_bytes("d/f.txt/inner", b"x")
    with pytest.raises(InvalidArgument, match="root"):
        store.write_bytes("", b"x")


def test_temp_names_are_reserved_and_hidden(store: LocalArtifactStore, root: Path) -> None:
    store.write_bytes("f.txt", b"1")
    (root / f"{TMP_PREFIX}upload").write_bytes(b"half")
    assert store.list() == [FileInfo("f.txt", False, 1)]
    with pytest.raises(InvalidArgument, match="reserved"):
        store.write_bytes(f"d/{TMP_PREFIX}x", b"x")


def test_overlong_names_are_invalid_arguments(store: LocalArtifactStore) -> None:
    with pytest.raises(InvalidArgument, match="too long"):
        store.write_bytes("x" * 300, b"1")
    with pytest.raises(InvalidArgument, match="too long"):
        store.open("x" * 300)


def test_chunk_iterator_closes_its_file(store: LocalArtifactStore) -> None:
    store.write_bytes("f.txt", b"1" * 10)
    chunks, _ = store.open("f.txt")
    assert next(chunks) == b"1" * 10
    chunks.close()  # type: ignore[attr-defined]
    assert list(chunks) == []


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "%2e%2e/outside.txt", "a\\..\\b", "C:/x"],
)
def test_traversal_is_refused_by_every_operation(store: LocalArtifactStore, tmp_path: Path, path: str) -> None:
    store.write_bytes("inside.txt", b"1")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.write_bytes(path, b"pwned")
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.open(path)
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.list(path)
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.delete(path)
    with pytest.raises(InvalidArgument, match="Invalid path"):
        store.exists(path)
    assert (tmp_path / "outside.txt").read_bytes() == b"secret"


def test_symlinks_leading_outside_the_root_are_refused(store: LocalArtifactStore, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    store.write_bytes("inside.txt", b"1")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "filelink").symlink_to(outside / "secret.txt")

    for path in ("dirlink/secret.txt", "dirlink", "filelink", "dirlink/new.txt"):
        with pytest.raises(InvalidArgument, match="outside the artifact root"):
            store.open(path)
        with pytest.raises(InvalidArgument, match="outside the artifact root"):
            store.write_bytes(path, b"pwned")
        with pytest.raises(InvalidArgument, match="outside the artifact root"):
            store.delete(path)
        with pytest.raises(InvalidArgument, match="outside the artifact root"):
            store.exists(path)
        with pytest.raises(InvalidArgument, match="outside the artifact root"):
            store.list(path)
    # The listing does not even reveal the links (or the size of what they point at).
    assert store.list() == [FileInfo("inside.txt", False, 1)]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"


def test_symlink_through_an_outside_directory_back_inside_is_refused(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    # root/out -> /outside, and /outside/back -> root/target: the full path resolves inside the
    # root, but the write would happen through a directory outside it.
    store.write_bytes("target", b"t")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "back").symlink_to(root / "target")
    (root / "out").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidArgument, match="outside the artifact root"):
        store.write_bytes("out/back", b"pwned")
    assert (root / "target").read_bytes() == b"t"


def test_symlinks_inside_the_root_work(store: LocalArtifactStore, root: Path) -> None:
    store.write_bytes("real/f.txt", b"data")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert store.read_bytes("alias/f.txt") == b"data"
    assert FileInfo("alias", True, None) in store.list()
    # Deleting the link removes the link, not what it points at.
    store.delete("alias")
    assert store.read_bytes("real/f.txt") == b"data"


def test_root_behind_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real-root").mkdir()
    (tmp_path / "link-root").symlink_to(tmp_path / "real-root", target_is_directory=True)
    store = LocalArtifactStore(tmp_path / "link-root")
    store.write_bytes("a/b.txt", b"1")
    assert (tmp_path / "real-root" / "a" / "b.txt").read_bytes() == b"1"
    assert store.list("a") == [FileInfo("a/b.txt", False, 1)]


def test_concurrent_writers_leave_one_whole_file(store: LocalArtifactStore, root: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    payloads = [bytes([i]) * (CHUNK_SIZE + i) for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda data: store.write_bytes("shared/f.bin", data), payloads))
        list(pool.map(lambda i: store.write_bytes(f"shared/own-{i}.bin", payloads[i]), range(8)))
    assert store.read_bytes("shared/f.bin") in payloads
    assert len(store.list("shared")) == 9
    assert not [p for p in (root / "shared").iterdir() if p.name.startswith(TMP_PREFIX)]


def test_a_streamed_write_fills_a_hidden_file_beside_the_target_then_renames_it(
    store: LocalArtifactStore, root: Path
) -> None:
    store.write_bytes("models/w.bin", b"old")
    out = store.writer("models/w.bin")
    out.write(b"new ")
    out.write(b"weights")
    # The partial file is in the store's own directory, so the rename is atomic.
    assert len([p for p in (root / "models").iterdir() if p.name.startswith(TMP_PREFIX)]) == 1
    assert store.read_bytes("models/w.bin") == b"old"
    assert [info.path for info in store.list("models")] == ["models/w.bin"]
    assert out.commit() == 11
    assert store.read_bytes("models/w.bin") == b"new weights"
    assert sorted(p.name for p in (root / "models").iterdir()) == ["w.bin"]


def test_an_aborted_streamed_write_leaves_nothing(store: LocalArtifactStore, root: Path) -> None:
    store.write_bytes("keep.txt", b"kept")
    out = store.writer("keep.txt")
    out.write(b"half")
    out.abort()
    out.abort()
    assert store.read_bytes("keep.txt") == b"kept"
    assert sorted(p.name for p in root.iterdir()) == ["keep.txt"]
    with pytest.raises(InvalidArgument):
        store.writer(f"x/{TMP_PREFIX}y")  # checked before any byte arrives
