"""The study store: one Optuna journal file per study under ``$CNAI_HOME/tune/``.

Why a journal file (Optuna's ``JournalStorage``) and not RDB storage on the control-plane database:
- it survives ``kill -9`` of the driver: each change is one appended line, fsync'd; a line torn by
  the kill is cut off before the next open (Optuna would otherwise refuse the file once a line
  follows it), so every trial told before the kill is there after it;
- it needs no server and no schema: Optuna's RDB storage would put its own tables, migrated by its
  own Alembic history, into the database cnai migrates — two histories on one database;
- a study is one file: easy to copy, delete, or keep beside the code.

Durability: Optuna's file backend fsyncs every append; a trial costs about ten appends (ask, each
param, attributes, tell), and fsync takes milliseconds here, so the fsyncs alone were over 30 ms a
trial. A killed process loses nothing it has written (its pages are the kernel's), so the journal
here is written without an fsync per line and fsync'd once when the driver stops (``sync``): only
an operating-system crash could lose the last trials, and then they are re-run, never corrupted.

Locking: Optuna's file locks (a symlink or an ``O_EXCL`` file) outlive a killed holder and are only
broken after a grace period. ``FlockLock`` uses ``flock`` instead, which the kernel drops when the
holder dies, however it dies. A second lock, held for the driver's life, refuses a second driver on
the same study at once (two drivers would each retry the other's running trials).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any

from cnai.errors import InvalidArgument, InvalidState, NotFound

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_study_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidArgument(f"Study name {name!r} must be 1-128 letters, digits, '.', '_' or '-'.")
    return name


class FlockLock:
    """Optuna's ``BaseJournalFileLock`` interface over ``flock`` (released by the kernel on death)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class StudyStore:
    def __init__(self, home: Path) -> None:
        self.root = home / "tune"

    def journal(self, name: str) -> Path:
        return self.root / f"{check_study_name(name)}.journal"

    def exists(self, name: str) -> bool:
        return self.journal(name).is_file()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.journal")) if self.root.is_dir() else []

    def storage(self, name: str) -> Any:
        """Optuna storage on the study's journal, its torn tail (if any) cut off first."""
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        from optuna.storages.journal._file import BaseJournalFileLock

        path = self.journal(name)
        self.root.mkdir(parents=True, exist_ok=True)
        if path.exists():
            cut_torn_tail(path)
        lock = FlockLock(path.with_suffix(".journal.lock"))
        BaseJournalFileLock.register(FlockLock)  # an ABC: a virtual subclass satisfies Optuna's checks
        return JournalStorage(_backend_class(JournalFileBackend)(str(path), lock_obj=lock))

    def hold_driver(self, name: str) -> int:
        """An exclusive lock for this driver's life; a second driver on the study gets one line."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.journal(name).with_suffix(".driver.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InvalidState(f"Study {name!r} is being driven by another process; wait for it or stop it.") from None
        os.set_inheritable(fd, False)
        return fd

    def load(self, name: str) -> Any:
        """An existing study, for reading (``cnai tune show``)."""
        import optuna

        if not self.exists(name):
            known = ", ".join(self.names()[:10]) or "none yet"
            raise NotFound(f"No study {name!r} under {self.root} (studies: {known}).")
        return optuna.load_study(study_name=name, storage=self.storage(name))


def sync(name_or_path: Path) -> None:
    """fsync the journal once (the driver calls it when it stops)."""
    if name_or_path.exists():
        fd = os.open(name_or_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _backend_class(base: Any) -> Any:
    """Optuna's journal file backend, appending without an fsync per line (see the module doc)."""

    class UnsyncedJournalFileBackend(base):  # type: ignore[misc]
        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
            with self._lock_guard(), open(self._file_path, "ab") as f:
                f.write(text.encode("utf-8"))

        def _lock_guard(self) -> Any:
            from optuna.storages.journal._file import get_lock_file

            return get_lock_file(self._lock)

    return UnsyncedJournalFileBackend


def cut_torn_tail(path: Path) -> None:
    """Drop a last line without its newline: what a write killed half-way leaves."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # Walk back to the last complete line (journals are small enough to read the tail in blocks).
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            f.seek(start)
            block = f.read(pos - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                f.truncate(start + cut + 1)
                return
            pos = start
        f.truncate(0)
