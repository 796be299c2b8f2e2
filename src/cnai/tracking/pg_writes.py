"""Run writes on PostgreSQL as one statement each: a round trip per request instead of five.

On PostgreSQL every statement is a network round trip, and so are BEGIN and COMMIT. The stores'
portable path (a transaction: check the run, write each table, read back) costs five of them per
``log_batch``; here the check and the writes are one statement whose data-modifying CTEs are
guarded by the run's state, so a deleted or missing run gets nothing written, as before.

A statement is its own transaction in autocommit, which the caller provides (``one_statement``).
Params are write-once: a batch whose params differ from stored ones writes nothing and says which;
a param a concurrent request stored after the statement's snapshot fails the whole statement with
a unique violation, and the caller retries the batch on its portable, transactional path.
Rows travel as one array per column (``unnest``), whatever the batch size. Parameters used
twice are cast once, the same way everywhere: PostgreSQL refuses a parameter whose uses deduce
different types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from cnai.tracking.metrics import POINT_COLUMNS, MetricPoint, prepare_points
from cnai.tracking.run_messages import RUN_COLUMN_NAMES as RUN_COLUMNS

_CREATE_RUN = """
WITH exp AS (
    SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = %(exp)s
), run AS (
    INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri)
    SELECT CAST(%(run)s AS varchar), %(exp)s, %(name)s, %(user)s, 'RUNNING', %(start)s, 'active',
           rtrim(artifact_location, '/') || '/' || CAST(%(run)s AS varchar) || '/artifacts'
      FROM exp WHERE lifecycle_stage = 'active'
    RETURNING artifact_uri
), tags AS (
    INSERT INTO run_tags (run_uuid, key, value)
    SELECT CAST(%(run)s AS varchar), k, v FROM unnest(%(tag_keys)s::varchar[], %(tag_values)s::text[]) AS t(k, v)
     WHERE EXISTS (SELECT 1 FROM run)
)
SELECT lifecycle_stage, (SELECT artifact_uri FROM run) FROM exp
"""

_LOG_BATCH = f"""
WITH run AS (
    SELECT lifecycle_stage FROM runs WHERE run_uuid = CAST(%(run)s AS varchar)
), batch AS (
    SELECT * FROM unnest(%(param_keys)s::varchar[], %(param_values)s::text[]) AS b(k, v)
), stored AS (
    SELECT p.key, p.value, b.v AS wanted FROM params p JOIN batch b ON p.key = b.k
     WHERE p.run_uuid = CAST(%(run)s AS varchar)
), go AS (
    SELECT 1 FROM run WHERE lifecycle_stage = 'active' AND NOT EXISTS (SELECT 1 FROM stored WHERE value <> wanted)
), new_params AS (
    -- No ON CONFLICT: a key a concurrent request stored after this snapshot fails the statement.
    INSERT INTO params (run_uuid, key, value)
    SELECT CAST(%(run)s AS varchar), k, v FROM batch
     WHERE EXISTS (SELECT 1 FROM go) AND NOT EXISTS (SELECT 1 FROM stored WHERE key = k)
), tags AS (
    INSERT INTO run_tags (run_uuid, key, value)
    SELECT CAST(%(run)s AS varchar), k, v FROM unnest(%(tag_keys)s::varchar[], %(tag_values)s::text[]) AS t(k, v)
     WHERE EXISTS (SELECT 1 FROM go)
    ON CONFLICT (run_uuid, key) DO UPDATE SET value = EXCLUDED.value
), renamed AS (
    UPDATE runs SET name = CAST(%(name)s AS varchar)
     WHERE run_uuid = CAST(%(run)s AS varchar) AND CAST(%(name)s AS varchar) IS NOT NULL AND EXISTS (SELECT 1 FROM go)
), points AS (
    INSERT INTO metrics ({", ".join(POINT_COLUMNS)})
    SELECT * FROM unnest(%(p_run)s::varchar[], %(p_key)s::varchar[], %(p_value)s::float8[], %(p_nan)s::bool[],
                         %(p_ts)s::bigint[], %(p_step)s::bigint[], %(p_model)s::varchar[], %(p_ds_name)s::varchar[],
                         %(p_ds_digest)s::varchar[])
     WHERE EXISTS (SELECT 1 FROM go)
    ON CONFLICT DO NOTHING
), latest AS (
    INSERT INTO latest_metrics (run_uuid, key, step, timestamp, value, is_nan)
    SELECT CAST(%(run)s AS varchar), * FROM unnest(%(l_key)s::varchar[], %(l_step)s::bigint[], %(l_ts)s::bigint[],
                                  %(l_value)s::float8[], %(l_nan)s::bool[])
     WHERE EXISTS (SELECT 1 FROM go)
    ON CONFLICT (run_uuid, key) DO UPDATE
       SET value = EXCLUDED.value, is_nan = EXCLUDED.is_nan, timestamp = EXCLUDED.timestamp, step = EXCLUDED.step
     WHERE (EXCLUDED.step, EXCLUDED.timestamp, EXCLUDED.value)
        >= (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)
)
SELECT (SELECT lifecycle_stage FROM run),
       ARRAY(SELECT ARRAY[key, value, wanted] FROM stored WHERE value <> wanted ORDER BY key)
"""


def create_run(
    conn: Connection,
    *,
    run_id: str,
    experiment_id: int,
    name: str,
    user_id: str,
    start_time: int,
    tags: dict[str, str],
) -> tuple[str | None, str | None]:
    """Insert the run and its tags when the experiment is active.

    Returns (the experiment's lifecycle stage or None when it does not exist, the run's
    artifact URI or None when nothing was written)."""
    params = {
        "exp": experiment_id,
        "run": run_id,
        "name": name,
        "user": user_id,
        "start": start_time,
        "tag_keys": list(tags),
        "tag_values": list(tags.values()),
    }
    row = _one(conn, _CREATE_RUN, params)
    return (row[0], row[1]) if row else (None, None)


def log_batch(
    conn: Connection,
    run_id: str,
    points: list[MetricPoint],
    params: dict[str, str],
    tags: dict[str, str],
    run_name: str | None,
) -> tuple[str | None, list[tuple[str, str, str]]]:
    """Write the batch when the run is active and no param in it changes a stored value.

    Returns (the run's lifecycle stage, None when it does not exist; (key, stored value, batch
    value) for each param that would change, in key order: nothing was written if any).
    Raises IntegrityError when a concurrent request stored one of the params meanwhile."""
    rows, latest = prepare_points(run_id, points)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(POINT_COLUMNS)
    values: dict[str, Any] = {
        "run": run_id,
        "name": run_name,
        "param_keys": list(params),
        "param_values": list(params.values()),
        "tag_keys": list(tags),
        "tag_values": list(tags.values()),
    }
    for name, column in zip(_POINT_PARAMS, columns, strict=True):
        values[name] = list(column)
    values["l_key"] = list(latest)
    for i, name in enumerate(("l_step", "l_ts", "l_value", "l_nan")):
        values[name] = [best[i] for best in latest.values()]
    row = _one(conn, _LOG_BATCH, values)
    assert row is not None  # the final SELECT has no FROM: always one row
    return row[0], [(key, stored, wanted) for key, stored, wanted in row[1]]


def run_row(conn: Connection, run_id: str) -> dict[str, Any] | None:
    """The run's row (``run_messages.RUN_COLUMNS``), None when there is none."""
    row = conn.exec_driver_sql(_SELECT_RUN, {"run": run_id}).first()
    return dict(zip(RUN_COLUMNS, row, strict=True)) if row else None


def update_run(conn: Connection, run_id: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """Set ``values`` (status, end_time, name) on the run if it is active, in one statement; the
    run's row after the change, None when no active run has that id. Fixed text per set of
    columns, not a Core ``update()`` built per request."""
    assert set(values) <= _UPDATABLE  # column names come from the caller's code only
    changes = ", ".join(f"{c} = %({c})s" for c in values) or "run_uuid = run_uuid"  # nothing to change: still answer
    sql = (
        f"UPDATE runs SET {changes} WHERE run_uuid = %(run)s AND lifecycle_stage = 'active' "
        f"RETURNING {', '.join(RUN_COLUMNS)}"
    )
    row = conn.exec_driver_sql(sql, {**values, "run": run_id}).first()
    return dict(zip(RUN_COLUMNS, row, strict=True)) if row else None


_SELECT_RUN = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_uuid = %(run)s"
_UPDATABLE = frozenset({"status", "end_time", "name"})
_POINT_PARAMS = ("p_run", "p_key", "p_value", "p_nan", "p_ts", "p_step", "p_model", "p_ds_name", "p_ds_digest")


def _one(conn: Connection, sql: str, params: dict[str, Any]) -> Sequence[Any] | None:
    # Through SQLAlchemy, not the bare cursor: its exceptions are the ones the API maps to
    # MLflow's errors, and a dropped connection renews the pool.
    row: Sequence[Any] | None = conn.exec_driver_sql(sql, params).first()
    return row
