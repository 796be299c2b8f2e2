"""Artifacts in a directory on the local file system (the embedded default).

Besides :func:`~cnai.artifacts.paths.safe_relpath`, every path is resolved with ``realpath`` and
must stay inside the (resolved) root, so a symlink planted in the tree cannot lead outside it.
The check and the use are not one atomic step; that would matter only to someone who can already
create symlinks inside the root, and cnai itself never creates any.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cnai.artifacts.base import CHUNK_SIZE, ArtifactStore, ArtifactWriter, FileInfo
from cnai.artifacts.paths import join, safe_relpath
from cnai.errors import InvalidArgument, NotFound, Unavailable

# Uploads land in a temporary file beside their target and are renamed into place, so readers
# never see half a file. The prefix is reserved: listings hide it and writes refuse it.
TMP_PREFIX = ".cnai-partial-"

# Files are created 0600 by mkstemp; artifacts are ordinary data files, readable like any other.
_FILE_MODE = 0o644


class LocalArtifactStore(ArtifactStore):
    """An :class:`ArtifactStore` rooted at a local directory, created on the first write."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        configured = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self.root_uri = Path(configured).as_uri()
        self._root = os.path.realpath(configured)

    @property
    def root(self) -> Path:
        """The resolved root directory."""
        return Path(self._root)

    def writer(self, path: str) -> ArtifactWriter:
        rel, full = self._resolve(path)
        if not rel:
            raise InvalidArgument("Invalid path: '' names the artifact root, not a file")
        if os.path.basename(full).startswith(TMP_PREFIX):
            raise InvalidArgument(f"Invalid path: {path!r}: names starting {TMP_PREFIX!r} are reserved")
        if os.path.isdir(full):
            raise InvalidArgument(f"Invalid path: {path!r} is a directory")
        with _os_errors(path):
            fd, tmp = self._make_temp(os.path.dirname(full), path)
        return _LocalWriter(os.fdopen(fd, "wb"), tmp, full, path)

    def open(self, path: str) -> tuple[Iterator[bytes], int]:
        _, full = self._resolve(path)
        # stat before open: opening a FIFO someone left in the tree would block this thread.
        try:
            if not stat.S_ISREG(os.stat(full).st_mode):
                raise NotFound(f"No artifact file at {path!r}")
            f = builtins.open(full, "rb")  # closed by _FileChunks
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"No artifact file at {path!r}") from None
        except OSError as exc:
            raise _os_error(exc, path) from None
        return _FileChunks(f), os.fstat(f.fileno()).st_size

    def list(self, path: str = "") -> builtins.list[FileInfo]:
        rel, full = self._resolve(path)
        try:
            with os.scandir(full) as it:
                entries = builtins.list(it)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise _os_error(exc, path) from None
        infos = []
        for entry in entries:
            info = self._entry_info(rel, entry)
            if info is not None:
                infos.append(info)
        return sorted(infos, key=lambda info: info.path)

    def delete(self, path: str) -> None:
        rel, full = self._resolve(path)
        if not rel:
            raise InvalidArgument("Invalid path: refusing to delete the artifact root")
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"No artifact at {path!r}") from None
        except OSError as exc:
            raise _os_error(exc, path) from None
        self._prune_empty_parents(os.path.dirname(full))

    def exists(self, path: str) -> bool:
        _, full = self._resolve(path)
        return os.path.exists(full)

    # -- helpers ---------------------------------------------------------------------------------

    def _resolve(self, path: str) -> tuple[str, str]:
        """The normalised relative path and the absolute path it names, checked against symlinks."""
        rel = safe_relpath(path)
        if not rel:
            return rel, self._root
        full = os.path.join(self._root, *rel.split("/"))
        # The parent is checked on its own too: a symlinked directory outside the root that
        # contains a symlink back inside would pass a check of the full path alone.
        for candidate in (full, os.path.dirname(full)):
            if not self._inside(os.path.realpath(candidate)):
                raise InvalidArgument(f"Invalid path: {path!r} leads outside the artifact root")
        return rel, full

    def _inside(self, real: str) -> bool:
        return real == self._root or real.startswith(self._root.rstrip(os.sep) + os.sep)

    def _make_temp(self, parent: str, path: str) -> tuple[int, str]:
        # A concurrent delete may prune the freshly made parent before mkstemp runs; try again.
        for attempt in range(3):
            try:
                os.makedirs(parent, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise InvalidArgument(f"Invalid path: a parent of {path!r} is a file") from None
            try:
                return tempfile.mkstemp(dir=parent, prefix=TMP_PREFIX)
            except FileNotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _entry_info(self, rel: str, entry: os.DirEntry[str]) -> FileInfo | None:
        if entry.name.startswith(TMP_PREFIX):
            return None
        try:
            if entry.is_symlink() and not self._inside(os.path.realpath(entry.path)):
                return None  # never reveal what lies outside the root, not even a size
            if entry.is_dir():
                return FileInfo(join(rel, entry.name), True, None)
            if entry.is_file():
                return FileInfo(join(rel, entry.name), False, entry.stat().st_size)
        except FileNotFoundError:
            pass  # deleted while we were listing
        return None

    def _prune_empty_parents(self, directory: str) -> None:
        """Remove directories a delete left empty, as S3 does implicitly, so both backends agree."""
        while directory != self._root and self._inside(directory):
            try:
                os.rmdir(directory)
            except OSError:
                return  # not empty (or gone): stop climbing
            directory = os.path.dirname(directory)


class _FileChunks(Iterator[bytes]):
    """Chunks of an open file; closes it when exhausted, closed, or collected."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def __next__(self) -> bytes:
        if self._f.closed:
            raise StopIteration
        chunk = self._f.read(CHUNK_SIZE)
        if not chunk:
            self._f.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._f.close()

    def __del__(self) -> None:
        self._f.close()


class _LocalWriter(ArtifactWriter):
    """Writes into a temporary file beside the target, renamed over it on commit (atomic)."""

    def __init__(self, out: BinaryIO, tmp: str, full: str, path: str) -> None:
        self._out, self._tmp, self._full, self._path = out, tmp, full, path
        self._size = 0

    def write(self, data: bytes) -> None:
        with _os_errors(self._path):
            self._out.write(data)
        self._size += len(data)

    def commit(self) -> int:
        try:
            with _os_errors(self._path):
                os.fchmod(self._out.fileno(), _FILE_MODE)
                self._out.close()
                os.replace(self._tmp, self._full)
        except BaseException:
            self.abort()
            raise
        return self._size

    def abort(self) -> None:
        self._out.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


@contextlib.contextmanager
def _os_errors(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _os_error(exc, path) from None


def _os_error(exc: OSError, path: str) -> Exception:
    """The cnai error for an OS error a caller can act on; anything else stays itself (a 500)."""
    if isinstance(exc, IsADirectoryError):
        return InvalidArgument(f"Invalid path: {path!r} is a directory")
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidArgument(f"Invalid path: {path[:80]!r}... is too long")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Unavailable(f"No space left for artifact {path!r}: {exc.strerror}")
    return exc
