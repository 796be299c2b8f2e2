"""The audit log's batches on both stores: what is queued is written in one flush, read back
newest first, and kept (not lost) while the store refuses writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cnai.auth.audit import AuditEntry, AuditLog
from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from tests.fixtures.servers import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    with postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def entry(i: int, status: int = 200) -> AuditEntry:
    return AuditEntry(
        1000 + i, f"user-{i}", "editor", "POST", f"/api/2.0/mlflow/runs/{i}", status, f"r{i}", "127.0.0.1"
    )


def test_batches_are_written_and_read_newest_first(engine: Engine) -> None:
    audit = AuditLog(engine, interval_s=3600)  # no background flush: this test flushes
    for i in range(250):
        audit.record(entry(i, 403 if i % 2 else 200))
    assert audit.flush() == 250
    assert audit.flush() == 0
    audit.record(entry(250))  # still queued: recent() includes it
    newest = audit.recent(3)
    assert newest == [entry(250), entry(249, 403), entry(248)]
    audit.close()


def test_entries_wait_while_the_store_refuses_them(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")  # not migrated: no audit_log table
    audit = AuditLog(engine, interval_s=3600)
    audit.record(entry(1))
    assert audit.flush() == 0
    upgrade(engine)
    assert audit.flush() == 1
    assert audit.recent(10) == [entry(1)]
    audit.close()
    engine.dispose()


def test_memory_is_bounded_when_the_store_stays_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")  # never migrated
    audit = AuditLog(engine, interval_s=3600, max_pending=3)
    for i in range(5):
        audit.record(entry(i))
    assert audit.flush() == 0
    assert audit.dropped == 2  # the oldest went first
    upgrade(engine)
    assert audit.recent(10) == [entry(4), entry(3), entry(2)]
    audit.close()
    engine.dispose()


def test_entries_past_the_retention_period_are_deleted(engine: Engine) -> None:
    day_ms = 86_400_000
    now_ms = 400 * day_ms
    audit = AuditLog(engine, interval_s=3600, retention_s=90 * 86400)
    old = [entry(i)._replace(ts=now_ms - 91 * day_ms - i) for i in range(25)]
    kept = [entry(100 + i)._replace(ts=now_ms - 89 * day_ms + i) for i in range(5)]
    for e in old + kept:
        audit.record(e)
    audit.flush()
    assert audit.prune(now_ms) == 25
    assert audit.prune(now_ms) == 0
    assert sorted(audit.recent(100)) == sorted(kept)
    audit.close()


def test_retention_zero_keeps_everything(engine: Engine) -> None:
    audit = AuditLog(engine, interval_s=3600, retention_s=0)
    audit.record(entry(1)._replace(ts=0))
    audit.flush()
    assert audit.prune() == 0
    assert audit.recent(10) == [entry(1)._replace(ts=0)]
    audit.close()
