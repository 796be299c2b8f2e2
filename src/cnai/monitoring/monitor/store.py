"""The monitor controller's durable state, and the transactions that keep it exactly-once.

Everything one batch of inference events changes is written in one transaction by
:meth:`MonitorStore.write_batch`: the rows added to open windows, the windows that closed (with
their predictions and their outbox actions), and the next offset of each partition consumed.
A batch that is read again after a crash is recognised by those offsets and skipped, so no row
is counted twice and no window is stored twice; windows and actions also have unique keys
(``(monitor, seq)`` and the idempotency key) as a second guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, and_, case, delete, func, or_, select, update

from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import (
    feedback,
    monitor_actions,
    monitor_buffer,
    monitor_offsets,
    monitor_predictions,
    monitor_windows,
)
from cnai.db.upsert import insert_for, upsert_values
from cnai.monitoring.monitor.evaluate import WindowVerdict
from cnai.monitoring.monitor.rows import Row

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# Verdicts of windows that breached when they closed besides feature drift (dataset_drift).
WINDOW_VERDICTS = ("service", "promptDrift")
_DUMP = orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_DUMP).decode()


@dataclass(frozen=True)
class OutboxAction:
    key: str  # <monitor>/<window seq>/<action index>: the idempotency key
    monitor: str
    seq: int
    index: int
    kind: str
    options: dict[str, Any]
    payload: dict[str, Any]


@dataclass(frozen=True)
class ClosedWindow:
    monitor: str
    seq: int
    generation: int
    verdict: WindowVerdict
    breached: bool
    actions: list[OutboxAction]
    predictions: list[tuple[str, int, Any]]  # (request id, row index, prediction)
    reason: str | None = None  # what breached: "drift", "service" or "promptDrift" (performance is judged later)


@dataclass
class Batch:
    """What one poll changes; written atomically by :meth:`MonitorStore.write_batch`."""

    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> next offset
    buffered: list[tuple[str, Row]] = field(default_factory=list)
    windows: list[ClosedWindow] = field(default_factory=list)
    consumed: dict[str, int] = field(default_factory=dict)  # monitor -> last ordinal now in a window

    def __bool__(self) -> bool:
        return bool(self.offsets or self.buffered or self.windows or self.consumed)


@dataclass(frozen=True)
class ActionRow:
    key: str
    monitor: str
    seq: int
    kind: str
    options: dict[str, Any]
    payload: dict[str, Any]
    attempts: int
    next_attempt_ms: int


class MonitorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- consuming -------------------------------------------------------------------------------

    def applied_offsets(self, group: str) -> dict[tuple[str, int], int]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(select(monitor_offsets).where(monitor_offsets.c.group_id == group)).all()
        return {(r.topic, r.partition_id): r.next_offset for r in rows}

    def open_window(self, monitor: str) -> tuple[int, list[Row]]:
        """``(seq of the open window, its rows so far)`` as last committed."""
        with read_tx(self.engine) as conn:
            last = conn.execute(select(func.max(monitor_windows.c.seq)).where(monitor_windows.c.monitor == monitor))
            seq = (last.scalar() or 0) + 1
            rows = conn.execute(
                select(monitor_buffer).where(monitor_buffer.c.monitor == monitor).order_by(monitor_buffer.c.ordinal)
            ).all()
        return seq, [_buffered_row(r) for r in rows]

    def incident(self, monitor: str) -> tuple[bool, dict[int, int]]:
        """What the incident policy needs after a restart: whether the newest window drifted, and
        when each action (by index) was last queued."""
        with read_tx(self.engine) as conn:
            newest = conn.execute(
                select(monitor_windows.c.dataset_drift, monitor_windows.c.verdict)
                .where(monitor_windows.c.monitor == monitor)
                .order_by(monitor_windows.c.seq.desc())
                .limit(1)
            ).first()
            # Breaches in sequence (drift, service, prompts) open an incident; a late performance breach does not.
            last = newest is not None and (bool(newest.dataset_drift) or newest.verdict in WINDOW_VERDICTS)
            fired = conn.execute(
                select(monitor_actions.c.action_index, func.max(monitor_actions.c.created_at))
                .where(monitor_actions.c.monitor == monitor)
                .group_by(monitor_actions.c.action_index)
            ).all()
        return bool(last), {int(index): int(at) for index, at in fired}

    def write_batch(self, group: str, batch: Batch, now: int) -> None:
        with write_tx(self.engine) as conn:
            if batch.offsets:
                rows = [
                    {"group_id": group, "topic": t, "partition_id": p, "next_offset": o}
                    for (t, p), o in batch.offsets.items()
                ]
                upsert_values(conn, monitor_offsets, rows, ["group_id", "topic", "partition_id"])
            if batch.buffered:
                conn.execute(
                    monitor_buffer.insert(),
                    [
                        {
                            "monitor": m,
                            "ordinal": r.ordinal,
                            "ts_ms": r.ts_ms,
                            "request_id": r.request_id,
                            "row_index": r.index,
                            "data": dumps(
                                {"v": r.values, "p": r.prediction, **({"s": r.service} if r.service else {})}
                            ),
                        }
                        for m, r in batch.buffered
                    ],
                )
            for monitor, last in batch.consumed.items():
                conn.execute(
                    delete(monitor_buffer).where(monitor_buffer.c.monitor == monitor, monitor_buffer.c.ordinal <= last)
                )
            for window in batch.windows:
                _insert_window(conn, window, now)

    def forget(self, monitor: str) -> None:
        """Drop a deleted monitor's open window (its stored windows and actions stay)."""
        with write_tx(self.engine) as conn:
            conn.execute(delete(monitor_buffer).where(monitor_buffer.c.monitor == monitor))

    def prune(self, older_than_ms: int) -> tuple[int, int]:
        """Drop stored predictions of windows that ended before ``older_than_ms``, and labels
        received before it: the two tables grow with every request, and labels that late no
        longer change any window anyone looks at. Window results and alerts stay (one row each
        per window). Returns (predictions, labels) deleted."""
        old_window = (
            select(monitor_windows.c.seq)
            .where(
                monitor_windows.c.monitor == monitor_predictions.c.monitor,
                monitor_windows.c.seq == monitor_predictions.c.seq,
                monitor_windows.c.end_ms < older_than_ms,
            )
            .exists()
        )
        with write_tx(self.engine) as conn:
            predictions = conn.execute(delete(monitor_predictions).where(old_window)).rowcount
            labels = conn.execute(delete(feedback).where(feedback.c.received_at < older_than_ms)).rowcount
        return max(predictions, 0), max(labels, 0)

    def purge(self, monitor: str) -> None:
        """Drop everything stored for ``monitor``: windows, alerts, the open window, predictions.
        For a monitor re-created under the same name that should start with no history (the
        quickstart's own); feedback is kept, as it belongs to the requests, not to a monitor."""
        with write_tx(self.engine) as conn:
            for table in (monitor_windows, monitor_actions, monitor_buffer, monitor_predictions):
                conn.execute(delete(table).where(table.c.monitor == monitor))

    # -- the outbox ------------------------------------------------------------------------------

    def due_actions(self, now: int, limit: int = 50) -> list[ActionRow]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(
                select(monitor_actions)
                .where(monitor_actions.c.status == PENDING, monitor_actions.c.next_attempt_ms <= now)
                .order_by(monitor_actions.c.next_attempt_ms, monitor_actions.c.key)
                .limit(limit)
            ).all()
        return [
            ActionRow(
                key=r.key,
                monitor=r.monitor,
                seq=r.seq,
                kind=r.kind,
                options=orjson.loads(r.options),
                payload=orjson.loads(r.payload),
                attempts=r.attempts,
                next_attempt_ms=r.next_attempt_ms,
            )
            for r in rows
        ]

    def next_due_ms(self) -> int | None:
        with read_tx(self.engine) as conn:
            value = conn.execute(
                select(func.min(monitor_actions.c.next_attempt_ms)).where(monitor_actions.c.status == PENDING)
            ).scalar()
        return int(value) if value is not None else None

    def claim(self, action: ActionRow, lease_until: int, now: int) -> bool:
        """Take ``action`` for one attempt, unless another deliverer took it first.

        The lease pushes its next attempt past the attempt's timeout: a deliverer that dies
        mid-attempt leaves it to be retried, with the same key, once the lease runs out.
        """
        with write_tx(self.engine) as conn:
            taken = conn.execute(
                update(monitor_actions)
                .where(
                    monitor_actions.c.key == action.key,
                    monitor_actions.c.status == PENDING,
                    monitor_actions.c.next_attempt_ms == action.next_attempt_ms,
                )
                .values(next_attempt_ms=lease_until, attempts=action.attempts + 1, updated_at=now)
            )
        return taken.rowcount == 1

    def record_attempt(self, key: str, status: str, next_attempt_ms: int, result: str, now: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(
                update(monitor_actions)
                .where(monitor_actions.c.key == key)
                .values(status=status, next_attempt_ms=next_attempt_ms, last_result=result[:2000], updated_at=now)
            )

    def actions(self, monitor: str, limit: int = 100) -> list[dict[str, Any]]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(
                select(monitor_actions)
                .where(monitor_actions.c.monitor == monitor)
                .order_by(monitor_actions.c.seq.desc(), monitor_actions.c.action_index)
                .limit(limit)
            ).all()
        return [
            {
                "key": r.key,
                "window": r.seq,
                "index": r.action_index,
                "kind": r.kind,
                "status": r.status,
                "attempts": r.attempts,
                "last_result": r.last_result,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]

    # -- results ---------------------------------------------------------------------------------

    def windows(self, monitor: str, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        query = select(monitor_windows).where(monitor_windows.c.monitor == monitor)
        if before is not None:
            query = query.where(monitor_windows.c.seq < before)
        with read_tx(self.engine) as conn:
            rows = conn.execute(query.order_by(monitor_windows.c.seq.desc()).limit(limit)).all()
        return [_window_dict(r) for r in rows]

    def summary(self, monitor: str) -> dict[str, Any]:
        """Counts for the Monitor's status: windows, breaches, actions by state, the last window."""
        with read_tx(self.engine) as conn:
            counts = conn.execute(
                select(func.count(), func.coalesce(func.sum(case((monitor_windows.c.breached, 1), else_=0)), 0)).where(
                    monitor_windows.c.monitor == monitor
                )
            ).one()
            by_status: dict[str, int] = dict(
                conn.execute(
                    select(monitor_actions.c.status, func.count())
                    .where(monitor_actions.c.monitor == monitor)
                    .group_by(monitor_actions.c.status)
                ).all()
            )
            last = conn.execute(
                select(monitor_windows)
                .where(monitor_windows.c.monitor == monitor)
                .order_by(monitor_windows.c.seq.desc())
                .limit(1)
            ).first()
            buffered = conn.execute(
                select(func.count()).select_from(monitor_buffer).where(monitor_buffer.c.monitor == monitor)
            ).scalar()
        return {
            "windows": int(counts[0]),
            "breaches": int(counts[1]),
            "actions": {s: int(by_status.get(s, 0)) for s in (PENDING, DELIVERED, FAILED)},
            "last_window": _window_dict(last) if last is not None else None,
            "open_window_rows": int(buffered or 0),
        }

    # -- ground truth ----------------------------------------------------------------------------

    def windows_with_labels_since(self, since_ms: int) -> tuple[set[tuple[str, int]], int]:
        """Windows holding predictions whose labels arrived after ``since_ms``; and the newest arrival."""
        with read_tx(self.engine) as conn:
            newest = conn.execute(select(func.max(feedback.c.received_at))).scalar() or since_ms
            rows = conn.execute(
                select(monitor_predictions.c.monitor, monitor_predictions.c.seq)
                .distinct()
                .join(feedback, feedback.c.request_id == monitor_predictions.c.request_id)
                .where(feedback.c.received_at > since_ms)
            ).all()
        return {(r.monitor, r.seq) for r in rows}, int(newest)

    def labelled(self, monitor: str, seq: int, model: str) -> tuple[list[Any], list[Any]]:
        """``(predictions, labels)`` of the window's rows that have a label.

        A label is one value for a one-row request (it labels row 0) or a list with one value
        per row; a label sent for another model (``model`` set and different) is not used.
        """
        with read_tx(self.engine) as conn:
            rows = conn.execute(
                select(monitor_predictions.c.row_index, monitor_predictions.c.prediction, feedback.c.label)
                .join(feedback, feedback.c.request_id == monitor_predictions.c.request_id)
                .where(
                    monitor_predictions.c.monitor == monitor,
                    monitor_predictions.c.seq == seq,
                    or_(feedback.c.model.is_(None), feedback.c.model == model),
                )
            ).all()
        predictions, labels = [], []
        for row_index, prediction, label_json in rows:
            label = orjson.loads(label_json)
            if isinstance(label, list):
                label = label[row_index] if row_index < len(label) else None
            elif row_index != 0:
                label = None
            if label is not None:
                predictions.append(orjson.loads(prediction))
                labels.append(label)
        return predictions, labels

    def set_performance(
        self, monitor: str, seq: int, performance: dict[str, Any], breach: Sequence[OutboxAction] | None, now: int
    ) -> bool:
        """Store a window's performance; with ``breach``, also mark a window that had not breached
        yet as breached and queue its actions. Returns whether the window became breached."""
        with write_tx(self.engine) as conn:
            key = and_(monitor_windows.c.monitor == monitor, monitor_windows.c.seq == seq)
            conn.execute(update(monitor_windows).where(key).values(performance=dumps(performance)))
            if breach is None:
                return False
            marked = conn.execute(
                update(monitor_windows)
                .where(key, monitor_windows.c.breached.is_(False))
                .values(breached=True, verdict="performance")
            )
            if marked.rowcount != 1:
                return False  # breached before (drift, or an earlier label): one alert per window
            _insert_actions(conn, breach, now)
            return True

    def window(self, monitor: str, seq: int) -> dict[str, Any] | None:
        with read_tx(self.engine) as conn:
            row = conn.execute(
                select(monitor_windows).where(monitor_windows.c.monitor == monitor, monitor_windows.c.seq == seq)
            ).first()
        return _window_dict(row) if row is not None else None


def _insert_window(conn: Any, window: ClosedWindow, now: int) -> None:
    v = window.verdict
    stmt = insert_for(conn, monitor_windows).values(
        monitor=window.monitor,
        seq=window.seq,
        generation=window.generation,
        start_ms=v.start_ms,
        end_ms=v.end_ms,
        rows=v.rows,
        drift_share=v.drift_share,
        dataset_drift=v.dataset_drift,
        breached=window.breached,
        verdict=(window.reason or "drift") if window.breached else None,
        features=dumps(v.features),
        # The service statistics and the prompts' drift travel in the quality document: no column of their own.
        quality=dumps(_quality_document(v)),
        performance=None,
        error=v.error,
        created_at=now,
    )
    # RETURNING rather than rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    inserted = conn.execute(
        stmt.on_conflict_do_nothing(index_elements=["monitor", "seq"]).returning(monitor_windows.c.seq)
    )
    if inserted.first() is None:
        return  # stored before: its predictions and actions were stored with it
    if window.predictions:
        rows = [
            {"monitor": window.monitor, "request_id": rid, "row_index": i, "seq": window.seq, "prediction": dumps(p)}
            for rid, i, p in window.predictions
        ]
        # A request id seen again (a client reusing ids) keeps its first prediction.
        stmt = insert_for(conn, monitor_predictions)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["monitor", "request_id", "row_index"]), rows)
    _insert_actions(conn, window.actions, now)


def _quality_document(v: WindowVerdict) -> dict[str, Any]:
    out = dict(v.quality)
    if v.service is not None:
        out["service"] = v.service
    if v.prompt_drift is not None:
        out["promptDrift"] = v.prompt_drift
    return out


def _insert_actions(conn: Any, actions: Iterable[OutboxAction], now: int) -> None:
    rows = [
        {
            "key": a.key,
            "monitor": a.monitor,
            "seq": a.seq,
            "action_index": a.index,
            "kind": a.kind,
            "options": dumps(a.options),
            "payload": dumps(a.payload),
            "status": PENDING,
            "attempts": 0,
            "next_attempt_ms": now,
            "last_result": None,
            "created_at": now,
            "updated_at": now,
        }
        for a in actions
    ]
    if rows:
        conn.execute(insert_for(conn, monitor_actions).on_conflict_do_nothing(index_elements=["key"]), rows)


def _buffered_row(r: Any) -> Row:
    data = orjson.loads(r.data)
    return Row(
        ts_ms=r.ts_ms,
        request_id=r.request_id,
        index=r.row_index,
        values=data["v"],
        prediction=data["p"],
        ordinal=r.ordinal,
        service=data.get("s"),
    )


def _window_dict(r: Any) -> dict[str, Any]:
    quality = orjson.loads(r.quality)
    return {
        "monitor": r.monitor,
        "window": r.seq,
        "generation": r.generation,
        "start_ms": r.start_ms,
        "end_ms": r.end_ms,
        "rows": r.rows,
        "drift_share": r.drift_share,
        "dataset_drift": bool(r.dataset_drift),
        "breached": bool(r.breached),
        "verdict": r.verdict,
        "features": orjson.loads(r.features),
        "quality": quality,
        "service": quality.get("service"),
        "prompt_drift": quality.get("promptDrift"),
        "performance": orjson.loads(r.performance) if r.performance is not None else None,
        "error": r.error,
        "created_at": r.created_at,
    }
