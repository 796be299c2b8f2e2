"""Metric points: the hottest write path of the tracking server.

A batch of points is one executemany INSERT plus one upsert of ``latest_metrics`` with at most one
row per key (the batch's maximum by MLflow's order: step, then timestamp, then value), all in the
caller's transaction. The points go to the driver as plain tuples through a statement written
once per paramstyle: SQLAlchemy's per-row parameter processing cost more than SQLite's own
insert work (measured: 20 ms vs 8 ms for 1,000 points).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from sqlalchemy import Connection, select, tuple_

from cnai.db.schema import latest_metrics, metrics
from cnai.db.upsert import insert_for
from cnai.errors import InvalidArgument
from cnai.tracking import search
from cnai.tracking.validation import check_key


class MetricPoint(NamedTuple):
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


def prepare_points(
    run_id: str, points: list[MetricPoint]
) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, int, float, bool]]]:
    """Rows for ``metrics`` (``POINT_COLUMNS``) and the batch's latest point per key as
    (step, timestamp, value, is_nan); every key checked."""
    rows: list[tuple[Any, ...]] = []
    latest: dict[str, tuple[int, int, float, bool]] = {}
    for key, value, timestamp, step, model_id, dataset_name, dataset_digest in points:
        is_nan = value != value  # NaN is the only float unequal to itself
        if is_nan:
            value = 0.0
        rows.append((run_id, key, value, is_nan, timestamp, step, model_id, dataset_name, dataset_digest))
        best = latest.get(key)
        if best is None or (step, timestamp, value) > best[:3]:
            latest[key] = (step, timestamp, value, is_nan)
    for key in latest:
        check_key(key, "metric")
    return rows, latest


def write_points(conn: Connection, run_id: str, points: list[MetricPoint]) -> None:
    if not points:
        return
    rows, latest = prepare_points(run_id, points)
    if conn.dialect.name == "postgresql":
        # One statement with one array per column: executemany would cost a round trip per row.
        conn.exec_driver_sql(_PG_UNNEST_INSERT, tuple(list(col) for col in zip(*rows, strict=True)))
    else:
        conn.exec_driver_sql(_insert_sql(conn), rows)
    conn.execute(
        _latest_upsert(conn),
        [
            {"run_uuid": run_id, "key": k, "step": s, "timestamp": t, "value": v, "is_nan": n}
            for k, (s, t, v, n) in latest.items()
        ],
    )


POINT_COLUMNS = (
    "run_uuid",
    "key",
    "value",
    "is_nan",
    "timestamp",
    "step",
    "model_id",
    "dataset_name",
    "dataset_digest",
)


_PG_UNNEST_INSERT = (
    f"INSERT INTO metrics ({', '.join(POINT_COLUMNS)}) SELECT * FROM unnest("
    "%s::varchar[], %s::varchar[], %s::float8[], %s::bool[], %s::bigint[], %s::bigint[], "
    "%s::varchar[], %s::varchar[], %s::varchar[]) ON CONFLICT DO NOTHING"
)


def _insert_sql(conn: Connection) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join([mark] * len(POINT_COLUMNS))
    # Identical points collapse, as MLflow's primary key makes them.
    return f"INSERT INTO metrics ({', '.join(POINT_COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING"


_LATEST_UPSERTS: dict[str, Any] = {}


def _latest_upsert(conn: Connection) -> Any:
    """Upsert of ``latest_metrics`` that only moves forward in (step, timestamp, value); built
    once per dialect."""
    stmt = _LATEST_UPSERTS.get(conn.dialect.name)
    if stmt is None:
        stmt = insert_for(conn, latest_metrics)
        newer = tuple_(stmt.excluded.step, stmt.excluded.timestamp, stmt.excluded.value) >= tuple_(
            latest_metrics.c.step, latest_metrics.c.timestamp, latest_metrics.c.value
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_uuid", "key"],
            set_={c: stmt.excluded[c] for c in ("value", "is_nan", "timestamp", "step")},
            where=newer,
        )
        _LATEST_UPSERTS[conn.dialect.name] = stmt
    return stmt


def wire_value(value: float, is_nan: bool) -> float | str:
    """proto3 JSON spells non-finite doubles as strings; orjson would write null."""
    if is_nan:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def history(
    conn: Connection, run_id: str, key: str, max_results: int | None, page_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    if not key:
        raise InvalidArgument("metric_key must be given")
    if max_results is not None and not 1 <= max_results <= 1_000_000:
        raise InvalidArgument("max_results must be between 1 and 1000000")
    offset = search.decode_page_token(page_token)
    query = (
        select(metrics.c.key, metrics.c.value, metrics.c.is_nan, metrics.c.timestamp, metrics.c.step)
        .where(metrics.c.run_uuid == run_id, metrics.c.key == key)
        .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.value)
        .offset(offset)
    )
    if max_results is not None:
        query = query.limit(max_results + 1)
    rows = conn.execute(query).all()
    next_token = None
    if max_results is not None and len(rows) > max_results:
        rows = rows[:max_results]
        next_token = search.encode_page_token(offset + max_results)
    return [
        {"key": r.key, "value": wire_value(r.value, r.is_nan), "timestamp": r.timestamp, "step": r.step} for r in rows
    ], next_token
