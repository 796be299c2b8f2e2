"""The execute cases against an in-memory SQLite database built from the schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.pool import StaticPool

from cnai.db.schema import metadata, run_inputs, runs
from cnai.tracking import search
from tests.unit.tracking.search.cases import ExecuteCases
from tests.unit.tracking.search.seed import seed


class TestSqlite(ExecuteCases):
    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> Iterator[Engine]:
        engine = create_engine("sqlite://", poolclass=StaticPool)
        metadata.create_all(engine)
        with engine.begin() as conn:
            seed(conn)
        yield engine
        engine.dispose()


def test_dataset_context_ignores_tags_that_are_not_json() -> None:
    # SQLite can check JSON before reading it; a damaged row must not fail the whole search.
    engine = create_engine("sqlite://", poolclass=StaticPool)
    metadata.create_all(engine)
    with engine.begin() as conn:
        seed(conn)
        conn.execute(run_inputs.update().where(run_inputs.c.run_uuid == "r3").values(tags="not json ["))
        query = select(runs.c.run_uuid).where(*search.runs_where("datasets.context LIKE '%'"))
        assert sorted(conn.execute(query).scalars()) == ["r1", "r2"]
