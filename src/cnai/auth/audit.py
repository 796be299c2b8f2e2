"""The audit log: every write the control plane was asked for (who, role, what, outcome, when).

Entries are recorded in memory on the request path (an append under a lock) and written in
batches by a background thread, every ``interval_s`` and on :meth:`AuditLog.close` (the app's
shutdown, else interpreter exit): a tracking client logging thousands of metrics per second must
not pay a database commit per request. The price is that a crash (kill -9) loses at most the
last interval's entries; a database that is down keeps them queued, up to ``max_pending``,
after which the oldest are dropped and counted in ``dropped``.

Retention: entries older than ``retention_s`` (the server's ``--audit-retention-days``, 90 by
default) are deleted by the same background thread, once an hour, in chunks, so the table does not
grow with every tracking write forever.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, delete, insert, select

from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import audit_log

log = logging.getLogger("cnai.audit")


class AuditEntry(NamedTuple):
    """One write; a named tuple because it is built on the request path (cheaper than a dataclass,
    and ``_asdict`` is cheaper than ``dataclasses.asdict``)."""

    ts: int  # ms since the epoch
    principal: str
    role: str
    method: str
    path: str
    status: int
    request_id: str
    client: str

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


PRUNE_EVERY_S = 3600.0
PRUNE_CHUNK = 10_000  # rows per DELETE: short transactions, no long lock on a busy store


class AuditLog:
    def __init__(
        self,
        engine: Engine,
        *,
        interval_s: float = 1.0,
        max_pending: int = 100_000,
        retention_s: float = 90 * 86400.0,
    ) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.max_pending = max_pending
        self.retention_s = retention_s  # 0: keep every entry
        self.dropped = 0
        self._pending: deque[AuditEntry] = deque()
        self._lock = threading.Lock()  # guards _pending and _thread
        self._flush_lock = threading.Lock()  # one batch in flight at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The INSERT compiled once for this dialect and sent with the driver's executemany: the
        # ORM-free Core path still builds parameters row by row, 10 us each, on a table that
        # grows with every tracking write.
        compiled = (
            insert(audit_log)
            .inline()  # no RETURNING of the generated id
            .values({name: bindparam(name) for name in AuditEntry._fields})
            .compile(dialect=engine.dialect)
        )
        self._insert_sql = str(compiled)
        self._positions = compiled.positiontup
        _live.add(self)

    def record(self, entry: AuditEntry) -> None:
        """Queue one entry (cheap: called on the request path)."""
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self._pending.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 10_000 == 0:
                    log.warning("audit log: %d entries dropped (the store is not accepting writes)", self.dropped)
            self._pending.append(entry)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="cnai-audit", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Write what is queued, in one transaction; returns the number written."""
        with self._flush_lock:
            with self._lock:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return 0
            try:
                with write_tx(self.engine) as conn:
                    conn.exec_driver_sql(self._insert_sql, self._rows(batch))
            except Exception as exc:  # the store is down or gone: keep the entries, say it in one line
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                log.warning("audit log: could not write %d entries, will retry: %s", len(batch), first)
                with self._lock:  # back in front, oldest first, within the bound
                    room = self.max_pending - len(self._pending)
                    self.dropped += max(0, len(batch) - room)
                    self._pending.extendleft(reversed(batch[-room:] if room > 0 else []))
                return 0
            return len(batch)

    def _rows(self, batch: list[AuditEntry]) -> list[Any]:
        if self._positions is None:  # named parameters (psycopg)
            return [e._asdict() for e in batch]
        if list(self._positions) == list(AuditEntry._fields):
            return batch  # tuples already in the statement's order
        index = [AuditEntry._fields.index(name) for name in self._positions]
        return [tuple(e[i] for i in index) for e in batch]

    def prune(self, now_ms: int | None = None) -> int:
        """Delete entries older than the retention period; returns how many went."""
        if not self.retention_s:
            return 0
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - int(self.retention_s * 1000)
        oldest = select(audit_log.c.id).where(audit_log.c.ts < cutoff).order_by(audit_log.c.ts).limit(PRUNE_CHUNK)
        total = 0
        while True:
            with write_tx(self.engine) as conn:
                deleted = conn.execute(delete(audit_log).where(audit_log.c.id.in_(oldest.scalar_subquery()))).rowcount
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    def recent(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first, including those still queued."""
        self.flush()
        columns = [audit_log.c[name] for name in AuditEntry._fields]
        with read_tx(self.engine) as conn:
            rows = conn.execute(select(*columns).order_by(audit_log.c.id.desc()).limit(limit)).all()
        return [AuditEntry(**row._asdict()) for row in rows]

    def close(self) -> None:
        """Stop the flusher and write what is left (what cannot be written is dropped, logged)."""
        _live.discard(self)
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        next_prune = time.monotonic()
        while not self._stop.wait(self.interval_s):
            self.flush()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                try:
                    self.prune()
                except Exception as exc:  # the store is down: try again at the next hour
                    log.warning("audit log: could not delete old entries: %s", str(exc).splitlines()[0][:200])


# Logs not closed by an app shutdown (tests run servers without lifespan) flush at exit.
_live: weakref.WeakSet[AuditLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for audit in list(_live):
        audit.close()
