"""One controller-running instance per store: the lock `cnai up` and `cnai quickstart` hold.

Two `cnai up` on one store would run two deployment controllers over the same desired state:
each adopts, replaces or kills the other's replicas. So the process that will run controllers
takes this lock before it starts anything (before binding, migrating, or touching a replica),
holds it for its life, and a second one exits at once with one line naming the holder.
`cnai server` alone does not take it: several API processes may share a store.

- SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the database file. The kernel
  drops it when the holder dies, however it dies, so a stale file never blocks anyone. The file
  holds the holder's pid, command and URL, for the message. The descriptor is not inherited by
  the replicas the holder starts (they may outlive it), except by a child that is handed it on
  purpose (``pass_fds``, `cnai quickstart` → its private `cnai up`): that child *adopts* the lock
  its parent holds instead of being refused by it.
- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection kept open for the
  process's life (the server drops it with the session). The holder's pid and URL travel in the
  connection's ``application_name``, which the refused process reads from ``pg_stat_activity``.
  A session lock dies with its connection (a database restart, a failover, an idle-connection
  reaper), and then nothing would stop a second instance from starting while this one still runs
  controllers. ``keep()`` checks the connection every few seconds; when it is gone it reconnects
  and takes the lock again, and if another process took it meanwhile it calls ``on_lost`` (for
  `cnai up`: one line and exit, leaving the replicas to the new holder, which adopts them).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from cnai.db.engine import connect_failure, make_engine
from cnai.errors import InvalidArgument, InvalidState, Unavailable

log = logging.getLogger("cnai.db.lock")

# pg_try_advisory_lock(int4, int4): 'cnai' as an int4, then this lock's number.
PG_LOCK_KEY = {"a": 0x636E6169, "b": 1}

HOME_HINT = "stop it or use --home DIR"

# Locks this process holds, by lock file: a child process handed one (see the module docstring)
# is given it by whoever finds it here.
_HELD: dict[Path, StoreLock] = {}


class StoreLock:
    """A held store lock; ``release()`` (or the process's end) frees it."""

    def __init__(
        self, holder: str = "", *, path: Path | None = None, fd: int | None = None, conn: Connection | None = None
    ) -> None:
        self.holder, self.path, self.fd, self._conn = holder, path, fd, conn
        self._url = ""
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def announce(self, url: str) -> None:
        """Record ``url`` as the holder's address (known only once its port is bound)."""
        if self.fd is not None and self.path is not None:
            _record(self.fd, {**_read_holder(self.path), "url": url})
        elif self._conn is not None:
            self._url = url
            _set_pg_name(self._conn, self.holder, url)

    def keep(self, on_lost: Callable[[str], None], interval: float = 5.0) -> None:
        """Watch a PostgreSQL lock's connection; re-take the lock after a drop, or call ``on_lost``
        (from a background thread, with one line saying what happened) when another process has it.
        A SQLite lock is a kernel ``flock`` that cannot be lost while the process lives: nothing to do."""
        if self._conn is None or self._keeper is not None:
            return
        self._keeper = threading.Thread(
            target=self._keep, args=(on_lost, interval), name="store-lock-keeper", daemon=True
        )
        self._keeper.start()

    def _keep(self, on_lost: Callable[[str], None], interval: float) -> None:
        while not self._stop.wait(interval):
            conn = self._conn
            if conn is None:
                return
            try:
                conn.execute(text("SELECT 1"))
                continue
            except Exception:  # the session, and with it the lock, is gone
                if self._stop.is_set():
                    return  # released meanwhile: the connection was closed on purpose
                log.warning("the store lock's database connection dropped; taking the lock again")
            with contextlib.suppress(Exception):
                conn.invalidate()
            try:
                got, other = _take_pg(conn.engine, self.holder, self._url)
            except DBAPIError:
                continue  # the database is unreachable for every instance alike: try again later
            if got is not None:
                self._conn = got
                log.warning("the store lock was taken again after its connection dropped")
                continue
            self._conn = None
            on_lost(
                f"{self.holder} lost the store lock when its database connection dropped, and another "
                f"{other or 'cnai up'} holds it now; stopping its controllers"
            )
            return

    def release(self) -> None:
        self._stop.set()
        if self.fd is not None:
            _HELD.pop(self.path, None)  # type: ignore[arg-type]
            with contextlib.suppress(OSError):
                os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
                self._conn.engine.dispose()
            self._conn = None

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(store: str, *, holder: str, url: str = "", hint: str = "") -> StoreLock:
    """Take the lock of ``store`` for ``holder`` (e.g. "cnai up") serving at ``url``.

    Raises ``InvalidState`` with one line naming the process that holds it, ending in ``hint``
    (what to do instead); ``Unavailable`` when a PostgreSQL store cannot be reached.
    """
    parsed = make_url(store)
    if parsed.get_backend_name() == "postgresql":
        return _acquire_pg(store, holder, url, hint or "stop it or use another --store")
    database = parsed.database
    if not database or database == ":memory:":
        return StoreLock()  # a private in-memory store: nobody to share it with
    return _acquire_file(Path(f"{Path(database).expanduser().resolve()}.lock"), holder, url, hint)


def held(store: str) -> StoreLock | None:
    """The lock this process holds on the SQLite ``store``, if any (to hand to a child)."""
    database = make_url(store).database
    if not database or database == ":memory:":
        return None
    return _HELD.get(Path(f"{Path(database).expanduser().resolve()}.lock"))


def _acquire_file(path: Path, holder: str, url: str, hint: str) -> StoreLock:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inheritable (PEP 446): replicas never hold it
    except OSError as exc:
        raise InvalidArgument(
            f"Cannot create the store's lock file {path}: {exc.strerror}: check --store or --home"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        info = _read_holder(path)
        handed = _handed_down(path, info)
        if handed is None:
            raise InvalidState(f"Another {_describe(info)} is running on this store; {hint or HOME_HINT}") from None
        if url:  # the parent's record, now with the address its child serves at
            _record(handed.fd, {**info, "url": url})  # type: ignore[arg-type]
        return handed
    _record(fd, {"pid": os.getpid(), "holder": holder, "url": url, "fd": fd})
    lock = StoreLock(holder, path=path, fd=fd)
    _HELD[path] = lock
    return lock


def _record(fd: int, info: dict[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


def _handed_down(path: Path, info: dict[str, Any]) -> StoreLock | None:
    """The lock, when the holder is this process's parent and handed this process its descriptor.

    The descriptor number is in the lock file; it is this lock only if this process has it open
    on the very same file, and then ``flock`` on it succeeds because the lock belongs to that
    shared open file, not to a process. Nobody else can pass this test.
    """
    fd = info.get("fd")
    if not isinstance(fd, int) or info.get("pid") != os.getppid():
        return None
    try:
        mine, theirs = os.fstat(fd), os.stat(path)
        if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
            return None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.set_inheritable(fd, False)  # handed to this process, not further to its replicas
    except OSError:
        return None
    return StoreLock(str(info.get("holder", "")), path=path, fd=fd)


def exit_on_lost(message: str) -> None:
    """``on_lost`` for a serving process: one line, then exit at once without stopping anything.

    Exiting like a killed process is what leaves the replicas serving: the instance that holds
    the lock now adopts them (a graceful stop would drain and kill them)."""
    sys.stderr.write(f"cnai: {message}\n")
    sys.stderr.flush()
    os._exit(75)  # EX_TEMPFAIL: a supervisor may restart it; it is then refused like any second instance


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _describe(info: dict[str, Any]) -> str:
    """``cnai up (pid 1234, http://127.0.0.1:8080)`` from what the holder recorded."""
    details = [f"pid {info['pid']}"] if info.get("pid") else []
    if info.get("url"):
        details.append(str(info["url"]))
    return str(info.get("holder") or "cnai up") + (f" ({', '.join(details)})" if details else "")


def _acquire_pg(store: str, holder: str, url: str, hint: str) -> StoreLock:
    engine = make_engine(store)
    try:
        conn, other = _take_pg(engine, holder, url)
    except DBAPIError as exc:
        engine.dispose()
        raise Unavailable(connect_failure(engine.url, exc)) from None
    if conn is not None:
        lock = StoreLock(holder, conn=conn)
        lock._url = url
        return lock
    engine.dispose()
    raise InvalidState(f"Another {other or 'cnai up'} is running on this store; {hint}")


def _take_pg(engine: Engine, holder: str, url: str) -> tuple[Connection | None, str | None]:
    """A new session holding the advisory lock, or (None, who holds it); raises ``DBAPIError``."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        _set_pg_name(conn, holder, url)
        if conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), PG_LOCK_KEY).scalar():
            return conn, None
        other = _pg_holder(conn)
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None, other


def _set_pg_name(conn: Connection, holder: str, url: str) -> None:
    name = f"{holder} pid={os.getpid()} {url}".strip()[:63]  # application_name holds 63 bytes
    conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name})


def _pg_holder(conn: Connection) -> str | None:
    """``cnai up (pid 1234, http://…)`` from the holding session's application_name."""
    row = conn.execute(
        text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = :a AND l.objid::bigint = :b AND l.objsubid = 2"
        ),
        PG_LOCK_KEY,
    ).first()
    if row is None or not row[0]:
        return None
    holder, _, rest = str(row[0]).partition(" pid=")
    pid, _, url = rest.partition(" ")
    return f"{holder} (pid {pid}{', ' + url if url else ''})" if pid else holder
