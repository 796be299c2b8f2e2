"""Alembic environment: the engine comes from cnai (``config.attributes['engine']``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Engine, create_engine, text

from cnai.db.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` CLI use (e.g. autogenerate during development)
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///:memory:")

# Any constant shared by every cnai process; names the advisory lock that serialises migrations.
MIGRATION_LOCK_KEY = 7_220_393_301


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process migrates at a time: servers or replicas starting together on an
    empty database would otherwise race on CREATE TABLE. The others wait, then find the schema at
    head and do nothing. SQLite serialises DDL through its write lock already."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
        lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        try:
            yield
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})


with migration_lock(engine), engine.connect().execution_options(cnai_write=True) as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through batch mode
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
