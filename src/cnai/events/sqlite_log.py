"""The embedded log's storage: one SQLite file holding topics, records, group offsets and members.

Synchronous on purpose: ``cnai.events.embedded`` calls it from one worker thread, never from the
event loop. Several processes may open the same file:

- WAL mode, so readers never wait for the writer and a writer never waits for readers.
- Every write starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so concurrent
  writers queue on the busy timeout. A deferred transaction that reads first (the next offset) and
  writes later would instead fail with SQLITE_BUSY when another process wrote in between.
- Offsets are dense per partition (0, 1, 2, ...) and allocated from ``partitions.next_offset``
  inside the same write transaction that inserts the records, so two processes can never hand
  out one offset twice, and a batch gets a contiguous run.
- ``synchronous=NORMAL`` (the default here) survives a crash of any process; ``FULL`` also
  survives a power cut, at the price of an fsync per commit.

Retention deletes the oldest records in log order (``retention_step``); ``partitions.log_start``
records the first offset still kept, and consumers start from it. New files use
``auto_vacuum=INCREMENTAL`` so trimmed pages can be handed back to the file system.
"""

from __future__ import annotations

import base64
import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import orjson

from cnai.errors import InvalidArgument
from cnai.events.assignment import TopicPartition, assign
from cnai.events.base import Record

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000
# After a checkpoint the WAL file is cut back to this size: a large trim writes many pages to the
# WAL, which would otherwise keep its peak size on disk for good.
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
# What a record costs beyond its key, value and headers (offset columns, the unique index entry,
# cell headers): only used to size a trim, which re-measures the file after every step anyway.
RECORD_OVERHEAD_BYTES = 48
_AUTO_VACUUM_INCREMENTAL = 2
# Rows per INSERT statement (7 parameters each, well under SQLite's 32766-variable limit).
_INSERT_ROWS = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    log_start INTEGER NOT NULL DEFAULT 0,  -- first offset still stored (retention moves it)
    next_offset INTEGER NOT NULL DEFAULT 0,  -- the high-water mark: the next record's offset
    PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    headers BLOB,
    UNIQUE (topic_id, partition, offset)
);
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,  -- the next offset the group reads, as in Kafka
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    grp TEXT NOT NULL,
    member_id TEXT NOT NULL,
    topics TEXT NOT NULL,  -- JSON list of subscribed topics
    last_seen_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,  -- last_seen_ms + the member's own lease
    PRIMARY KEY (grp, member_id)
) WITHOUT ROWID;
"""

Chooser = Callable[[bytes | None, int], int]
Entry = tuple[bytes | None, bytes, tuple[tuple[str, bytes], ...]]


class SqliteLog:
    """One connection to the log file; use it from one thread at a time."""

    def __init__(self, path: Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidArgument(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions, we issue BEGIN ourselves.
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        # busy_timeout first: switching to WAL needs a lock that another opener may hold.
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Takes effect only in a file without tables (a new log); older files keep reusing their
        # free pages instead of returning them, so they stop growing but do not shrink.
        self._conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        with self._write():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise InvalidArgument(f"{path} holds event-log schema {version}, newer than this cnai knows")
            # One statement at a time: executescript() would COMMIT our open transaction first.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- topics and records -------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int) -> None:
        with self._write():
            self._ensure_topic(topic, partitions)

    def _ensure_topic(self, topic: str, partitions: int) -> tuple[int, int]:
        """(id, partition count) of ``topic``, creating it when missing; inside a write."""
        row = self._conn.execute("SELECT id, partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        if row is not None:
            return int(row[0]), int(row[1])
        cur = self._conn.execute("INSERT INTO topics (name, partitions) VALUES (?, ?)", (topic, partitions))
        topic_id = int(cur.lastrowid or 0)
        self._conn.executemany(
            "INSERT INTO partitions (topic_id, partition) VALUES (?, ?)", [(topic_id, p) for p in range(partitions)]
        )
        return topic_id, partitions

    def append(
        self,
        batches: Sequence[tuple[str, Sequence[Entry]]],
        choose: Chooser,
        timestamp_ms: int,
        default_partitions: int,
    ) -> None:
        """Append every ``(topic, entries)`` batch in one transaction, in order.

        Topics are created when missing. Offsets of one partition are handed out in the order the
        entries come, so a key's records keep their order.
        """
        with self._write():
            rows: list[tuple[int, int, int, bytes | None, bytes, int, bytes | None]] = []
            for topic, entries in batches:
                topic_id, count = self._ensure_topic(topic, default_partitions)
                by_partition: dict[int, list[Entry]] = {}
                for entry in entries:
                    by_partition.setdefault(choose(entry[0], count), []).append(entry)
                for partition, items in by_partition.items():
                    (start,) = self._conn.execute(
                        "UPDATE partitions SET next_offset = next_offset + ? WHERE topic_id = ? AND partition = ? "
                        "RETURNING next_offset - ?",
                        (len(items), topic_id, partition, len(items)),
                    ).fetchone()
                    rows.extend(
                        (topic_id, partition, start + i, key, value, timestamp_ms, _encode_headers(headers))
                        for i, (key, value, headers) in enumerate(items)
                    )
            self._insert(rows)

    def _insert(self, rows: Sequence[tuple[int, int, int, bytes | None, bytes, int, bytes | None]]) -> None:
        """Insert ``rows`` into ``records``, up to _INSERT_ROWS rows per statement.

        executemany() runs one statement per row, and every run gives up the GIL and takes it back:
        in a model server that appends hundreds of inference events at a time, each take-back
        waits for the busy event loop or the model's thread and costs thread switches. A statement
        with many VALUES rows binds them all in one go and runs once. The chunk size is fixed (one
        cached statement) except for the last chunk.
        """
        for start in range(0, len(rows), _INSERT_ROWS):
            chunk = rows[start : start + _INSERT_ROWS]
            self._conn.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])

    def topic_partitions(self, topics: Sequence[str]) -> dict[str, int]:
        """Partition counts of those ``topics`` that exist."""
        marks = ",".join("?" * len(topics))
        rows = self._conn.execute(f"SELECT name, partitions FROM topics WHERE name IN ({marks})", tuple(topics))
        return {str(name): int(count) for name, count in rows}

    def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        """(log start, high-water mark) of one partition."""
        row = self._conn.execute(
            "SELECT p.log_start, p.next_offset FROM partitions p JOIN topics t ON t.id = p.topic_id "
            "WHERE t.name = ? AND p.partition = ?",
            (topic, partition),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def fetch(self, topic: str, partition: int, offset: int, limit: int) -> list[Record]:
        rows = self._conn.execute(
            "SELECT r.offset, r.key, r.value, r.timestamp_ms, r.headers FROM records r "
            "JOIN topics t ON t.id = r.topic_id "
            "WHERE t.name = ? AND r.partition = ? AND r.offset >= ? ORDER BY r.offset LIMIT ?",
            (topic, partition, offset, limit),
        ).fetchall()
        return [
            Record(topic, partition, int(off), key, value, int(ts), _decode_headers(headers))
            for off, key, value, ts, headers in rows
        ]

    # --- consumer groups ---------------------------------------------------------------

    def heartbeat(self, group: str, member_id: str, topics: Sequence[str], now_ms: int, lease_ms: int) -> None:
        """Join or renew ``member_id``'s lease, and drop members whose lease ran out.

        Each member stores its own expiry, so members with different ``lease_ms`` still agree on
        who is alive.
        """
        with self._write():
            self._conn.execute(
                "INSERT INTO members (grp, member_id, topics, last_seen_ms, expires_ms) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (grp, member_id) DO UPDATE SET topics = excluded.topics, "
                "last_seen_ms = excluded.last_seen_ms, expires_ms = excluded.expires_ms",
                (group, member_id, orjson.dumps(list(topics)).decode(), now_ms, now_ms + lease_ms),
            )
            self._conn.execute("DELETE FROM members WHERE grp = ? AND expires_ms <= ?", (group, now_ms))

    def leave(self, group: str, member_id: str) -> None:
        with self._write():
            self._conn.execute("DELETE FROM members WHERE grp = ? AND member_id = ?", (group, member_id))

    def assignment(self, group: str, member_id: str, now_ms: int) -> list[TopicPartition] | None:
        """The partitions ``member_id`` owns now, or None when it is not a live member."""
        rows = self._conn.execute(
            "SELECT member_id, topics FROM members WHERE grp = ? AND expires_ms > ?", (group, now_ms)
        ).fetchall()
        members = {str(m): frozenset(orjson.loads(topics)) for m, topics in rows}
        if member_id not in members:
            return None
        topics = sorted(set().union(*members.values()))
        return assign(members, self.topic_partitions(topics))[member_id]

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        row = self._conn.execute(
            "SELECT offset FROM group_offsets WHERE grp = ? AND topic = ? AND partition = ?",
            (group, topic, partition),
        ).fetchone()
        return None if row is None else int(row[0])

    def commit(
        self, group: str, member_id: str, offsets: Mapping[TopicPartition, int], now_ms: int, lease_ms: int
    ) -> set[TopicPartition]:
        """Commit the offsets of the partitions ``member_id`` still owns; return those.

        Ownership is decided inside the write transaction, so a member that lost a partition (its
        lease ran out, or a new member took it) can never overwrite the new owner's progress.
        """
        with self._write():
            owned = self.assignment(group, member_id, now_ms)
            if owned is None:
                return set()
            self._conn.execute(
                "UPDATE members SET last_seen_ms = ?, expires_ms = ? WHERE grp = ? AND member_id = ?",
                (now_ms, now_ms + lease_ms, group, member_id),
            )
            done = {tp for tp in offsets if tp in set(owned)}
            self._conn.executemany(
                "INSERT INTO group_offsets (grp, topic, partition, offset) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset",
                [(group, topic, partition, offsets[(topic, partition)]) for topic, partition in done],
            )
            return done

    # --- retention ---------------------------------------------------------------------

    def size_bytes(self) -> int:
        """The bytes retention counts: the whole file, less free pages it cannot hand back.

        A file made before incremental vacuum existed here keeps its free pages (new records
        reuse them), so for it only the pages in use count.
        """
        page_size, pages, free, incremental = self._usage()
        return (pages if incremental else pages - free) * page_size

    def _usage(self) -> tuple[int, int, int, bool]:
        page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(self._conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        incremental = int(self._conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == _AUTO_VACUUM_INCREMENTAL
        return page_size, pages, free, incremental

    def retention_step(
        self,
        *,
        cutoff_ms: int | None,
        max_bytes: int | None,
        slack_bytes: int,
        batch_rows: int,
        vacuum_pages: int,
    ) -> tuple[int, int]:
        """One bounded unit of retention in one short write transaction: (records deleted, pages freed).

        In order of precedence: delete up to ``batch_rows`` of the oldest records whose timestamp
        is before ``cutoff_ms``; else, while the file is over ``max_bytes``, hand free pages back
        or delete the oldest records worth the excess; else hand back free pages beyond
        ``slack_bytes`` (a few are kept for the next appends). ``(0, 0)`` means nothing is left to do.

        Records are deleted in log order (rowid order): offsets are allocated in the transaction
        that inserts them, so within every partition rowid order is offset order and a deleted
        run is always a prefix of each partition. Age stops at the first record young enough,
        as Kafka keeps a segment until its newest record expires.
        """
        with self._write():
            page_size, pages, free, incremental = self._usage()
            if cutoff_ms is not None:
                deleted = self._delete_head(batch_rows, lambda ts, _size, _total: ts < cutoff_ms)
                if deleted:
                    return deleted, 0
            if max_bytes is not None:
                used = (pages if incremental else pages - free) * page_size
                excess = used - max_bytes
                if excess > 0:
                    if incremental and free:
                        return 0, self._vacuum(min(free, -(-excess // page_size), vacuum_pages))
                    # Delete at least one record, then until the estimate covers the excess.
                    deleted = self._delete_head(batch_rows, lambda _ts, size, total: total - size < excess)
                    if deleted:
                        return deleted, 0
            spare = free - slack_bytes // page_size
            if incremental and spare > 0:
                return 0, self._vacuum(min(spare, vacuum_pages))
            return 0, 0

    def _delete_head(self, limit: int, take: Callable[[int, int, int], bool]) -> int:
        """Delete the longest run of the oldest records for which ``take(timestamp, size, total so far)``."""
        rows = self._conn.execute(
            "SELECT rowid, topic_id, partition, offset, timestamp_ms, "
            "length(value) + coalesce(length(key), 0) + coalesce(length(headers), 0) "
            "FROM records ORDER BY rowid LIMIT ?",
            (limit,),
        ).fetchall()
        last_rowid: int | None = None
        starts: dict[tuple[int, int], int] = {}
        total = 0
        for rowid, topic_id, partition, offset, ts, size in rows:
            total += int(size) + RECORD_OVERHEAD_BYTES
            if not take(int(ts), int(size) + RECORD_OVERHEAD_BYTES, total):
                break
            last_rowid = int(rowid)
            starts[(int(topic_id), int(partition))] = int(offset) + 1
        if last_rowid is None:
            return 0
        deleted = self._conn.execute("DELETE FROM records WHERE rowid <= ?", (last_rowid,)).rowcount
        self._conn.executemany(
            "UPDATE partitions SET log_start = MAX(log_start, ?) WHERE topic_id = ? AND partition = ?",
            [(start, topic_id, partition) for (topic_id, partition), start in starts.items()],
        )
        return int(deleted)

    def _vacuum(self, pages: int) -> int:
        """Hand ``pages`` free pages back to the file system (the file shrinks at commit)."""
        before = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        # sqlite3 steps a statement without result columns once, and each step of
        # incremental_vacuum frees one page: so one execution per page.
        self._conn.executemany("PRAGMA incremental_vacuum(1)", [()] * pages)
        return before - int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])


@functools.lru_cache(maxsize=_INSERT_ROWS)
def _insert_sql(rows: int) -> str:
    values = ",".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO records (topic_id, partition, offset, key, value, timestamp_ms, headers) VALUES {values}"


def _encode_headers(headers: tuple[tuple[str, bytes], ...]) -> bytes | None:
    if not headers:
        return None  # the common case costs no bytes
    return orjson.dumps([[name, base64.b64encode(value).decode("ascii")] for name, value in headers])


def _decode_headers(raw: bytes | None) -> tuple[tuple[str, bytes], ...]:
    if raw is None:
        return ()
    return tuple((str(name), base64.b64decode(value)) for name, value in orjson.loads(raw))
