"""Migrations: the schema Alembic builds is the schema the code declares, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from cnai.db.engine import make_engine
from cnai.db.migrate import alembic_config, current_revision, upgrade
from cnai.db.schema import metadata
from tests.fixtures.servers import postgres_database


def _assert_in_sync(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    assert current_revision(engine) == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    _assert_in_sync(f"sqlite:///{tmp_path / 'x.db'}")


@pytest.mark.postgres
def test_postgres_schema_matches_models() -> None:
    with postgres_database() as url:
        _assert_in_sync(url)


@pytest.mark.postgres
def test_concurrent_upgrades_on_an_empty_postgres_database() -> None:
    """Several processes (servers, replicas) starting on one empty database at once."""
    import subprocess
    import sys

    with postgres_database() as url:
        cmd = [sys.executable, "-m", "cnai.cli.main", "db", "upgrade", "--store", url]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)]
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        engine = make_engine(url)
        assert current_revision(engine) == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        engine.dispose()
