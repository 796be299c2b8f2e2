from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnai.artifacts import LocalArtifactStore, store_from_uri
from cnai.errors import InvalidArgument


def test_file_uri(tmp_path: Path) -> None:
    store = store_from_uri((tmp_path / "a b").as_uri())
    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "a b"
    assert store.root_uri == (tmp_path / "a b").as_uri()


def test_file_uri_with_localhost(tmp_path: Path) -> None:
    store = store_from_uri(f"file://localhost{tmp_path}/x")
    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "x"


def test_plain_absolute_path(tmp_path: Path) -> None:
    store = store_from_uri(str(tmp_path / "arts"))
    assert isinstance(store, LocalArtifactStore)
    assert store.root_uri == (tmp_path / "arts").as_uri()


def test_relative_and_home_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store_from_uri("arts").root_uri == (tmp_path / "arts").as_uri()
    assert store_from_uri("~/arts").root_uri == (tmp_path / "home" / "arts").as_uri()


def test_s3_uri_builds_an_s3_store_without_network() -> None:
    from cnai.artifacts.s3 import S3ArtifactStore

    store = store_from_uri("s3://bucket/some/prefix/", s3_endpoint_url="http://127.0.0.1:1")
    assert isinstance(store, S3ArtifactStore)
    assert store.root_uri == "s3://bucket/some/prefix"
    assert store_from_uri("s3://bucket").root_uri == "s3://bucket"


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "gs://bucket/x",
        "http://example.com/artifacts",
        "file://otherhost/dir",
        "file:///dir?x=1",
        "s3://",
        "s3:///prefix",
        "s3://bucket/../escape",
        "s3://bucket/p?versionId=1",
        "s3://a/p",
        "s3://bad bucket/p",
        "s3://user:pw@bucket/p",
    ],
)
def test_unsupported_or_malformed_roots_are_refused(uri: str) -> None:
    with pytest.raises(InvalidArgument):
        store_from_uri(uri)


def test_s3_without_boto3_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "cnai.artifacts.s3", raising=False)
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` raise ImportError
    with pytest.raises(InvalidArgument, match=r"cnai\[s3\]"):
        store_from_uri("s3://bucket/prefix")


def test_importing_the_package_does_not_import_boto3() -> None:
    code = "import sys, cnai.artifacts; assert 'boto3' not in sys.modules, 'boto3 imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
