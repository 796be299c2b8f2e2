"""POST /api/v1/feedback: labels by request id; a bad batch answers 400 and writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, delete, func, select
from starlette.applications import Starlette

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.db.schema import feedback
from cnai.monitoring.feedback import MAX_BODY_BYTES, MAX_ITEMS, feedback_routes
from tests.fixtures.servers import postgres_database


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path_factory.mktemp('feedback') / 'f.db'}")
        upgrade(e)
        yield e
        e.dispose()
        return
    with postgres_database() as url:
        e = make_engine(url)
        upgrade(e)
        yield e
        e.dispose()


@pytest.fixture
def engine(database: Engine) -> Engine:
    with database.begin() as conn:
        conn.execute(delete(feedback))
    return database


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=Starlette(routes=feedback_routes(engine)))
    async with httpx.AsyncClient(transport=transport, base_url="http://cnai") as c:
        yield c


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(feedback)).scalar_one())


async def test_labels_are_stored_and_replaced(client: httpx.AsyncClient, engine: Engine) -> None:
    r = await client.post("/api/v1/feedback", json={"request_id": "r-1", "label": 1})
    assert r.status_code == 200
    assert r.json() == {"accepted": 1}
    batch = {
        "feedback": [
            {"request_id": "r-2", "label": "spam", "model": "filter"},
            {"request_id": "r-3", "label": [0.5, 1.5, 2]},
            {"request_id": "r-1", "label": 0},  # a correction
        ]
    }
    assert (await client.post("/api/v1/feedback", json=batch)).json() == {"accepted": 3}
    assert count(engine) == 3
    one = (await client.get("/api/v1/feedback/r-1")).json()
    assert one["label"] == 0
    assert one["model"] is None
    assert (await client.get("/api/v1/feedback/r-2")).json()["model"] == "filter"
    assert (await client.get("/api/v1/feedback/r-3")).json()["label"] == [0.5, 1.5, 2]
    missing = await client.get("/api/v1/feedback/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "RESOURCE_DOES_NOT_EXIST"


GOOD = {"request_id": "ok", "label": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"", "Request body is empty"),
        (b"[1, 2]", "Send {"),
        (b'{"feedback": []}', "'feedback' is empty"),
        (b'{"feedback": {"request_id": "a"}}', "'feedback' must be a list"),
        (b'{"feedback": [], "extra": 1}', "Unknown field(s) beside 'feedback': extra"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": "b"}]}), "feedback[1]: label is required"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": "", "label": 1}]}), "feedback[1]: request_id must be"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": 5, "label": 1}]}), "feedback[1]: request_id must be"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": "c", "label": {"a": 1}}]}), "a label is a string, number"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": "c", "label": []}]}), "a label list holds 1 to"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": "c", "label": [1, None]}]}), "a label is a string"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": "c", "label": 1, "lable": 2}]}), "unknown field(s) lable"),
        (orjson.dumps({"feedback": [GOOD, {"request_id": "c", "label": 1, "model": 3}]}), "model must be"),
        (orjson.dumps({"feedback": [GOOD, GOOD]}), "request_id 'ok' appears twice"),
        (b'{"request_id": "x", "label": NaN}', "not valid JSON"),
        (orjson.dumps({"feedback": [{"request_id": f"r{i}", "label": 1} for i in range(MAX_ITEMS + 1)]}), "At most"),
    ],
)
async def test_bad_feedback_is_400_and_writes_nothing(
    client: httpx.AsyncClient, engine: Engine, body: bytes, message: str
) -> None:
    r = await client.post("/api/v1/feedback", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    answer: dict[str, Any] = r.json()
    assert answer["code"] == "INVALID_PARAMETER_VALUE"
    assert message in answer["error"]
    assert count(engine) == 0


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient, engine: Engine) -> None:
    r = await client.post("/api/v1/feedback", content=b"x" * (MAX_BODY_BYTES + 1))
    assert r.status_code == 413
    assert r.json()["code"] == "REQUEST_TOO_LARGE"
    assert count(engine) == 0
