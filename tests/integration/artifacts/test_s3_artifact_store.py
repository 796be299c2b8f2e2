"""What only the S3 store does: prefixes, multipart uploads, pagination, S3's own errors."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from cnai.artifacts import FileInfo, store_from_uri
from cnai.artifacts.s3 import MIN_PART_SIZE, S3ArtifactStore
from cnai.errors import InvalidArgument, Unavailable
from tests.fixtures.s3 import s3_client

pytestmark = [pytest.mark.integration, pytest.mark.s3]


@pytest.fixture
def client(s3_endpoint: str) -> Any:
    return s3_client(s3_endpoint)


def _keys(client: Any, bucket: str) -> list[str]:
    response = client.list_objects_v2(Bucket=bucket)
    return sorted(obj["Key"] for obj in response.get("Contents", []))


def test_keys_live_under_the_prefix(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    store = store_from_uri(f"s3://{s3_bucket}/team/artifacts/", s3_endpoint_url=s3_endpoint)
    assert store.root_uri == f"s3://{s3_bucket}/team/artifacts"
    store.write_bytes("1/run/model/MLmodel", b"m")
    assert _keys(client, s3_bucket) == ["team/artifacts/1/run/model/MLmodel"]
    assert store.list("1/run") == [FileInfo("1/run/model", True, None)]


def test_store_at_the_bucket_root(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    store = S3ArtifactStore(f"s3://{s3_bucket}", endpoint_url=s3_endpoint)
    store.write_bytes("a/b.txt", b"12")
    store.write_bytes("c.txt", b"3")
    assert _keys(client, s3_bucket) == ["a/b.txt", "c.txt"]
    assert store.list() == [FileInfo("a", True, None), FileInfo("c.txt", False, 1)]
    assert store.exists("")


def test_large_files_go_up_in_parts(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    store = S3ArtifactStore(
        f"s3://{s3_bucket}/p",
        endpoint_url=s3_endpoint,
        multipart_threshold=MIN_PART_SIZE,
        multipart_chunksize=MIN_PART_SIZE,
    )
    data = os.urandom(2 * MIN_PART_SIZE + 4321)
    assert store.write("big.bin", io.BytesIO(data)) == len(data)
    # A multipart object's ETag ends in "-<number of parts>".
    assert client.head_object(Bucket=s3_bucket, Key="p/big.bin")["ETag"].strip('"').endswith("-3")
    assert store.read_bytes("big.bin") == data


def test_listing_follows_pagination(s3_endpoint: str, s3_bucket: str) -> None:
    store = S3ArtifactStore(f"s3://{s3_bucket}/p", endpoint_url=s3_endpoint, list_page_size=2)
    for name in ("f1", "f2", "f3", "f4", "f5", "d1/x", "d2/x", "d3/x"):
        store.write_bytes(f"dir/{name}", b"x")
    listing = store.list("dir")
    assert [info.path for info in listing] == [
        "dir/d1",
        "dir/d2",
        "dir/d3",
        "dir/f1",
        "dir/f2",
        "dir/f3",
        "dir/f4",
        "dir/f5",
    ]
    # Deleting the tree also walks every page.
    store.delete("dir")
    assert store.list() == []


def test_folder_markers_are_not_listed(s3_endpoint: str, s3_bucket: str, client: Any) -> None:
    # Consoles and some tools create an empty "dir/" object to show an empty folder.
    client.put_object(Bucket=s3_bucket, Key="p/dir/", Body=b"")
    client.put_object(Bucket=s3_bucket, Key="p/dir/f.txt", Body=b"abc")
    store = S3ArtifactStore(f"s3://{s3_bucket}/p", endpoint_url=s3_endpoint)
    assert store.list("dir") == [FileInfo("dir/f.txt", False, 3)]
    store.delete("dir")
    assert _keys(client, s3_bucket) == []


def test_a_missing_bucket_is_reported_clearly(s3_endpoint: str, s3_bucket: str) -> None:
    store = S3ArtifactStore("s3://no-such-bucket-cnai/p", endpoint_url=s3_endpoint)
    calls = [
        lambda: store.write_bytes("a.txt", b"x"),
        lambda: store.open("a.txt"),
        lambda: store.list(),
        lambda: store.exists("a.txt"),
        lambda: store.delete("a.txt"),
    ]
    for call in calls:
        with pytest.raises(Unavailable, match="'no-such-bucket-cnai' does not exist"):
            call()


def test_an_unreachable_endpoint_is_unavailable(s3_bucket: str) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = S3ArtifactStore(f"s3://{s3_bucket}", endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(Unavailable, match="Cannot reach"):
        store.list()


def test_part_size_below_the_s3_minimum_is_refused(s3_endpoint: str) -> None:
    with pytest.raises(InvalidArgument, match="multipart_chunksize"):
        S3ArtifactStore("s3://bucket/p", endpoint_url=s3_endpoint, multipart_chunksize=1024)


def test_chunk_iterator_can_be_closed_early(s3_endpoint: str, s3_bucket: str) -> None:
    store = S3ArtifactStore(f"s3://{s3_bucket}", endpoint_url=s3_endpoint)
    store.write_bytes("f.bin", os.urandom(3 * 1024 * 1024))
    chunks, size = store.open("f.bin")
    assert size == 3 * 1024 * 1024
    assert len(next(chunks)) > 0
    chunks.close()  # type: ignore[attr-defined]
    # The store stays usable after abandoning a download half-way.
    assert store.list() == [FileInfo("f.bin", False, size)]
