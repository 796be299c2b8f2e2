"""RunStore's one-statement writes on PostgreSQL where they meet a concurrent writer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.errors import InvalidArgument
from cnai.tracking.experiments import ExperimentStore
from cnai.tracking.runs import RunStore
from tests.fixtures.servers import postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> Iterator[Engine]:
    with postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def test_param_stored_concurrently_with_another_value_refuses_the_whole_batch(engine: Engine) -> None:
    experiments = ExperimentStore(engine)
    experiments.ensure_default()
    runs = RunStore(engine)
    run_id = str(runs.create(experiments.create("e", None, []), "ana", 1000, [], "r")["info"]["run_id"])
    outcome: list[BaseException | None] = []

    def log() -> None:
        try:
            runs.log_batch(run_id, [], [("lr", "0.1"), ("other", "x")], [])
            outcome.append(None)
        except BaseException as exc:  # handed to the main thread
            outcome.append(exc)

    # A concurrent writer holds "lr" with another value, uncommitted: the batch's statement took
    # its snapshot before that commit, so only the unique index can tell it.
    with engine.connect() as rival:
        rival.execute(text("INSERT INTO params (run_uuid, key, value) VALUES (:r, 'lr', '0.2')"), {"r": run_id})
        worker = threading.Thread(target=log)
        worker.start()
        _wait_for_a_lock_wait(engine)  # the batch's statement now waits on the rival's row
        rival.commit()
    worker.join(timeout=30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], InvalidArgument)
    assert "Changing param values is not allowed" in outcome[0].message
    assert runs.get(run_id)["data"]["params"] == [{"key": "lr", "value": "0.2"}]


def _wait_for_a_lock_wait(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for _ in range(300):
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.02)
    pytest.fail("the batch never waited on the concurrent insert")
