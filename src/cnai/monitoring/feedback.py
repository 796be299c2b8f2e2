"""Ground truth: ``POST /api/v1/feedback`` stores labels for served requests, by request id.

    {"feedback": [{"request_id": "r-1", "label": 1}, {"request_id": "r-2", "label": [0, 1, 1]}]}

A single object (``{"request_id": ..., "label": ...}``) is accepted too. ``label`` is one JSON
value for a one-row request, or a list with one value per row of a batched request; ``model``
(optional) keeps a label from being joined with another model's prediction under the same id.
Posting a request id again replaces its label (a correction). The batch is checked as a whole
before anything is written: one bad item answers 400 and stores nothing. The monitor controller
joins labels with the predictions it stored per window and updates the windows' performance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai._clock import now_ms
from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import feedback
from cnai.db.upsert import upsert_values
from cnai.errors import InvalidArgument, NotFound
from cnai.resources.http import handler, json_response, read_json

PATH = "/api/v1/feedback"
MAX_ITEMS = 10_000
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_ID_LENGTH = 256
MAX_LABEL_VALUES = 100_000
MAX_LABEL_TEXT = 1024
_ITEM_KEYS = {"request_id", "label", "model"}

Label = str | int | float | bool


@dataclass(frozen=True)
class Feedback:
    request_id: str
    label: Label | list[Label]
    model: str | None = None


def parse_feedback(body: Any) -> list[Feedback]:
    """The items of a feedback body; InvalidArgument naming the first bad item."""
    if isinstance(body, dict) and "feedback" in body:
        if set(body) != {"feedback"}:
            extra = ", ".join(sorted(set(body) - {"feedback"}))
            raise InvalidArgument(f"Unknown field(s) beside 'feedback': {extra}")
        items = body["feedback"]
        if not isinstance(items, list):
            raise InvalidArgument("'feedback' must be a list of {request_id, label} objects")
    elif isinstance(body, dict):
        items = [body]
    else:
        raise InvalidArgument('Send {"feedback": [{"request_id": ..., "label": ...}, ...]} or one such object')
    if not items:
        raise InvalidArgument("'feedback' is empty")
    if len(items) > MAX_ITEMS:
        raise InvalidArgument(f"At most {MAX_ITEMS} labels per request, got {len(items)}")
    parsed = [_item(item, i) for i, item in enumerate(items)]
    seen: set[str] = set()
    for i, item in enumerate(parsed):
        if item.request_id in seen:
            raise InvalidArgument(f"feedback[{i}]: request_id {item.request_id!r} appears twice in the batch")
        seen.add(item.request_id)
    return parsed


def save_feedback(engine: Engine, items: Sequence[Feedback], received_at: int | None = None) -> int:
    """Store (or replace) the labels in one transaction; returns how many."""
    now = received_at if received_at is not None else now_ms()
    rows = [
        {
            "request_id": item.request_id,
            "label": orjson.dumps(item.label).decode(),
            "model": item.model,
            "received_at": now,
        }
        for item in items
    ]
    with write_tx(engine) as conn:
        upsert_values(conn, feedback, rows, ["request_id"])
    return len(rows)


def get_feedback(engine: Engine, request_id: str) -> dict[str, Any]:
    with read_tx(engine) as conn:
        row = conn.execute(select(feedback).where(feedback.c.request_id == request_id)).first()
    if row is None:
        raise NotFound(f"No feedback for request {request_id!r}")
    return {
        "request_id": row.request_id,
        "label": orjson.loads(row.label),
        "model": row.model,
        "received_at": row.received_at,
    }


def feedback_routes(engine: Engine) -> list[Route]:
    """``POST /api/v1/feedback`` and ``GET /api/v1/feedback/{request_id}``."""

    @handler
    async def post_feedback(request: Request) -> Response:
        items = parse_feedback(await read_json(request, limit=MAX_BODY_BYTES))
        accepted = await run_in_threadpool(save_feedback, engine, items)
        return json_response({"accepted": accepted})

    @handler
    async def read_feedback(request: Request) -> Response:
        found = await run_in_threadpool(get_feedback, engine, request.path_params["request_id"])
        return json_response(found)

    return [
        Route(PATH, post_feedback, methods=["POST"]),
        Route(PATH + "/{request_id:path}", read_feedback, methods=["GET"]),
    ]


def _item(item: Any, index: int) -> Feedback:
    where = f"feedback[{index}]"
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: expected an object with request_id and label")
    unknown = set(item) - _ITEM_KEYS
    if unknown:
        raise InvalidArgument(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    request_id = item.get("request_id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID_LENGTH:
        raise InvalidArgument(f"{where}: request_id must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    if "label" not in item:
        raise InvalidArgument(f"{where}: label is required")
    label = item["label"]
    if isinstance(label, list):
        if not label or len(label) > MAX_LABEL_VALUES:
            raise InvalidArgument(f"{where}: a label list holds 1 to {MAX_LABEL_VALUES} values, one per row")
        for value in label:
            _check_value(value, where)
    else:
        _check_value(label, where)
    model = item.get("model")
    if model is not None and (not isinstance(model, str) or not model or len(model) > MAX_ID_LENGTH):
        raise InvalidArgument(f"{where}: model must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return Feedback(request_id=request_id, label=label, model=model)


def _check_value(value: Any, where: str) -> None:
    if isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"{where}: a label must be a finite number")
        return
    if isinstance(value, str):
        if len(value) > MAX_LABEL_TEXT:
            raise InvalidArgument(f"{where}: a text label is at most {MAX_LABEL_TEXT} characters")
        return
    raise InvalidArgument(f"{where}: a label is a string, number or boolean (or a list of them), got {value!r}"[:300])
