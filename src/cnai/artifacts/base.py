"""The artifact store interface: a tree of files under one root URI.

Paths are relative to the root, '/'-separated, and pass through
:func:`cnai.artifacts.paths.safe_relpath` inside every implementation, so callers may hand over
whatever the client sent. The interface is synchronous: the API layer calls it through a
threadpool, and both backends (the file system and boto3) block anyway.
"""

from __future__ import annotations

import builtins
import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

# Streams move in 1 MiB pieces: large enough that per-chunk overhead vanishes, small enough that a
# few hundred concurrent downloads stay in memory comfortably.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """One entry of a listing, as MLflow's ``list_artifacts`` reports it.

    ``path`` is relative to the store root (listing ``"a/b"`` yields ``"a/b/c.txt"``), which is what
    MLflow's ``ArtifactRepository.list_artifacts`` returns; the mlflow-artifacts API answers with
    the last segment only, and can take it from here. ``file_size`` is ``None`` for directories.
    """

    path: str
    is_dir: bool
    file_size: int | None


class ArtifactWriter(ABC):
    """One artifact being written from a stream: chunks in, then all of it or nothing.

    Nothing is visible at the path until :meth:`commit`; :meth:`abort` (after a client went away,
    or an upload over its limit) leaves nothing behind. Exactly one of them ends every writer.
    Memory stays bounded whatever the size: each store writes chunks out as they come.
    """

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append ``data``."""

    @abstractmethod
    def commit(self) -> int:
        """Make the artifact visible whole, replacing any file at its path; returns its size."""

    @abstractmethod
    def abort(self) -> None:
        """Discard what was written; never raises for a writer already aborted or half-started."""


class ArtifactStore(ABC):
    """A place to keep run and model artifacts."""

    #: Where the tree lives, e.g. ``file:///home/u/.cnai/artifacts`` or ``s3://bucket/prefix``.
    root_uri: str

    @abstractmethod
    def writer(self, path: str) -> ArtifactWriter:
        """A writer for the file at ``path``; the path is checked here, before any byte is sent."""

    def write(self, path: str, src: BinaryIO) -> int:
        """Store everything read from ``src`` at ``path``, replacing any file there.

        Returns the number of bytes written. Readers never see a half-written file.
        """
        out = self.writer(path)
        try:
            while chunk := src.read(CHUNK_SIZE):
                out.write(chunk)
        except BaseException:
            out.abort()
            raise
        return out.commit()

    @abstractmethod
    def open(self, path: str) -> tuple[Iterator[bytes], int]:
        """Return the file's chunks and its total size in bytes.

        Raises :class:`~cnai.errors.NotFound` if there is no file at ``path`` (a directory is not a
        file). The iterator releases its resources once exhausted or closed.
        """

    @abstractmethod
    def list(self, path: str = "") -> builtins.list[FileInfo]:
        """The direct children of the directory ``path``, sorted by path.

        An empty list when nothing is there, and also when ``path`` is a file, as MLflow does.
        """

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete the file or the whole directory tree at ``path``.

        Raises :class:`~cnai.errors.NotFound` if nothing is there, and
        :class:`~cnai.errors.InvalidArgument` for the root itself: wiping every artifact of every
        run is never what an API call means.
        """

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether a file or a non-empty directory is at ``path``."""

    def write_bytes(self, path: str, data: bytes) -> int:
        """Convenience for small payloads (an ``MLmodel`` file, a JSON summary)."""
        return self.write(path, io.BytesIO(data))

    def read_bytes(self, path: str) -> bytes:
        """Convenience for small files; large ones should be streamed with :meth:`open`."""
        chunks, _ = self.open(path)
        return b"".join(chunks)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root_uri!r})"
