"""Engines and transactions for the control-plane database.

SQLite runs in WAL mode so readers never wait for the writer. Write transactions start with
``BEGIN IMMEDIATE``: a deferred transaction that reads first and writes later fails at once
(SQLITE_BUSY, no busy-timeout retry) when another connection wrote in between; taking the write
lock up front makes concurrent writers queue on the busy timeout instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from cnai.errors import InvalidArgument, Unavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """Create an engine for ``sqlite:///path`` or ``postgresql+psycopg://...``."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidArgument(f"Not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":  # psycopg 3 is the driver we ship in [postgres]
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every request. A
        # connection the server dropped fails one request instead (a 503 the stock client retries),
        # and SQLAlchemy then renews every pooled connection older than the failure.
        return create_engine(url, pool_size=16, max_overflow=16)
    raise InvalidArgument(f"Unsupported store {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://")


def _sqlite_engine(url: str, database: str | None) -> Engine:
    in_memory = not database or database == ":memory:"
    if database and not in_memory:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidArgument(
                f"Cannot create {folder} for the SQLite store: {exc.strerror}: choose --store or --home"
            ) from None
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("cnai_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def ensure_reachable(engine: Engine) -> None:
    """Connect once; a store that cannot be reached or opened is one line saying why and what to do
    (``Unavailable``), instead of a driver traceback at the first query."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise Unavailable(connect_failure(engine.url, exc)) from None


def connect_failure(url: URL, exc: BaseException) -> str:
    """A failed connection to ``url`` as one sentence a user can act on."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())  # the driver's message, on one line
    if url.get_backend_name() == "sqlite":
        return f"Cannot open the SQLite store {url.database}: {text}: check --store or --home"
    host, port, user, db = url.host or "localhost", url.port or 5432, url.username or "postgres", url.database
    where = f"{host}:{port}"
    if f'database "{db}" does not exist' in text:
        flags = f"-h {host}" + (f" -p {port}" if port != 5432 else "") + f" -U {user}"
        return f"PostgreSQL database '{db}' does not exist on {where}: create it with `createdb {flags} {db}`"
    if f'role "{user}" does not exist' in text:
        return f"PostgreSQL on {where} has no user '{user}': create it (createuser) or fix the user in --store"
    if "password authentication failed" in text or "no password supplied" in text:
        return f"PostgreSQL on {where} refused user '{user}': check the user and password in --store"
    if "Connection refused" in text:
        return f"No PostgreSQL answers on {where} (connection refused): start it, or fix the host and port in --store"
    return f"Cannot connect to PostgreSQL on {where}: {text}"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write; commits on success, rolls back on error."""
    with engine.connect().execution_options(cnai_write=True) as conn, conn.begin():
        yield conn


@contextmanager
def sqlite_write(engine: Engine) -> Iterator[Any]:
    """A SQLite write transaction as a bare DBAPI cursor on a pooled connection: ``BEGIN
    IMMEDIATE``, the caller's statements, ``COMMIT`` (``ROLLBACK`` on any error).

    For the hottest requests, whose statements are fixed SQL text: a SQLAlchemy ``Connection``
    with its begin event, execution contexts and commit bookkeeping cost more than SQLite's own
    work for a small write (measured: about 40% of a run creation's or a metric batch's in-app
    time). Same transaction, same durability; driver errors come out as SQLAlchemy's exception
    classes, as from ``write_tx``, so the API maps them the same way (a locked store is a 503)."""
    with _sqlite_cursor(engine, "BEGIN IMMEDIATE", commit=True) as cursor:
        yield cursor


@contextmanager
def sqlite_read(engine: Engine) -> Iterator[Any]:
    """A SQLite read transaction (one snapshot across statements) as a bare DBAPI cursor; see
    ``sqlite_write`` for why and what stays the same."""
    with _sqlite_cursor(engine, "BEGIN", commit=False) as cursor:
        yield cursor


@contextmanager
def _sqlite_cursor(engine: Engine, begin: str, *, commit: bool) -> Iterator[Any]:
    """``begin``, the caller's statements, then COMMIT (``commit``) or ROLLBACK; ROLLBACK on any
    error. A read ends its snapshot with ROLLBACK: it wrote nothing."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(begin)
            try:
                yield cursor
            except BaseException:
                conn.rollback()
                raise
            if commit:
                conn.commit()
            else:
                conn.rollback()
        except dbapi_error as exc:
            raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=engine.dialect) from exc
        finally:
            cursor.close()
    finally:
        conn.close()  # back to the pool, which rolls back anything left open


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A connection for reads.

    On SQLite this is one snapshot across statements. On PostgreSQL it is autocommit: under READ
    COMMITTED each statement takes its own snapshot even inside a transaction, so BEGIN and COMMIT
    would only add two network round trips to every read.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
        return
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for a write that is one statement, for PostgreSQL: in autocommit the statement
    is its own transaction, atomic as any, and BEGIN and COMMIT cost no round trips of their own.
    SQLite, where a round trip costs nothing, gets a ``write_tx``."""
    if engine.dialect.name != "postgresql":
        with write_tx(engine) as conn:
            yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn
