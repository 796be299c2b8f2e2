"""Artifact stores: a local directory or S3, behind one small interface.

Path safety lives in one function, :func:`safe_relpath`, which every store calls. The S3 store is
not imported here, so ``import cnai.artifacts`` works without the optional ``[s3]`` extra; get it
through :func:`store_from_uri` or ``cnai.artifacts.s3``.
"""

from __future__ import annotations

from cnai.artifacts.base import CHUNK_SIZE, ArtifactStore, FileInfo
from cnai.artifacts.factory import store_from_uri
from cnai.artifacts.local import LocalArtifactStore
from cnai.artifacts.paths import safe_relpath

__all__ = [
    "CHUNK_SIZE",
    "ArtifactStore",
    "FileInfo",
    "LocalArtifactStore",
    "safe_relpath",
    "store_from_uri",
]
