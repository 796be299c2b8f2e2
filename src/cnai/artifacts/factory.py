"""Pick the artifact store for a root URI (``Settings.artifacts``)."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from cnai.artifacts.base import ArtifactStore
from cnai.artifacts.local import LocalArtifactStore
from cnai.errors import InvalidArgument


def store_from_uri(uri: str, *, s3_endpoint_url: str = "") -> ArtifactStore:
    """The store for ``file:///abs/dir``, a plain directory path, or ``s3://bucket/prefix``.

    A relative or ``~`` directory is made absolute here, once, so the root recorded in run
    metadata does not depend on where the server happens to be started later.
    """
    if not uri:
        raise InvalidArgument("Invalid artifact root: it is empty")
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        return _s3_store(uri, s3_endpoint_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidArgument(f"Invalid artifact root {uri!r}: file URIs must name a local path")
        if parts.query or parts.fragment:
            raise InvalidArgument(f"Invalid artifact root {uri!r}: query strings and fragments are not allowed")
        return LocalArtifactStore(unquote(parts.path))
    # One-letter "schemes" are Windows drive letters (C:\...), i.e. plain paths.
    if parts.scheme and len(parts.scheme) > 1:
        raise InvalidArgument(
            f"Unsupported artifact root {uri!r}: use file:///dir, a directory path, or s3://bucket/prefix"
        )
    return LocalArtifactStore(os.path.expanduser(uri))


def _s3_store(uri: str, endpoint_url: str) -> ArtifactStore:
    try:
        from cnai.artifacts.s3 import S3ArtifactStore
    except ImportError as exc:  # boto3 is the optional [s3] extra
        raise InvalidArgument(f"The artifact root {uri!r} needs boto3: pip install 'cnai[s3]' ({exc})") from None
    return S3ArtifactStore(uri, endpoint_url=endpoint_url)
