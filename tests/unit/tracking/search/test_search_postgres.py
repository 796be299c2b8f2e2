"""The execute cases against PostgreSQL: LIKE, ILIKE, NaN and casts must behave as on SQLite.

Each run creates its own database (``cnai_search_test_<random>``) and drops it afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from cnai.db.schema import metadata
from tests.unit.tracking.search.cases import ExecuteCases
from tests.unit.tracking.search.seed import seed

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.mark.postgres
class TestPostgres(ExecuteCases):
    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> Iterator[Engine]:
        name = f"cnai_search_test_{secrets.token_hex(6)}"  # our own identifier, safe to inline
        admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(f"{SERVER}/{name}")
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                seed(conn)
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
