"""Logged models (MLflow 3): a model's own id and artifact location, independent of a run.

``mlflow.<flavor>.log_model`` creates one (status PENDING), uploads the files under its
``artifact_uri``, then finalizes it (READY). The registry points versions at ``models:/<model_id>``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from cnai._clock import now_ms
from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import experiments, logged_model_params, logged_model_tags, logged_models, metrics
from cnai.db.upsert import upsert_values
from cnai.errors import InvalidArgument, NotFound
from cnai.tracking import search
from cnai.tracking.metrics import wire_value
from cnai.tracking.validation import MAX_TAG_VALUE_LENGTH, check_experiment_id, check_key, check_tags, check_value

STATUSES = frozenset(
    {
        "LOGGED_MODEL_STATUS_UNSPECIFIED",
        "LOGGED_MODEL_PENDING",
        "LOGGED_MODEL_READY",
        "LOGGED_MODEL_UPLOAD_FAILED",
    }
)


class LoggedModelStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        experiment_id: str,
        name: str | None,
        source_run_id: str | None,
        model_type: str | None,
        param_items: Sequence[tuple[str, str]],
        tag_items: Sequence[tuple[str, str]],
    ) -> dict[str, Any]:
        exp_id = check_experiment_id(experiment_id)
        for key, value in [*param_items, *tag_items]:
            check_key(key, "param or tag")
            check_value(value, MAX_TAG_VALUE_LENGTH, "Param or tag")
        model_id = f"m-{uuid.uuid4().hex}"
        now = now_ms()
        with write_tx(self.engine) as conn:
            location = conn.execute(
                select(experiments.c.artifact_location).where(experiments.c.experiment_id == exp_id)
            ).scalar()
            if location is None:
                raise NotFound(f"No Experiment with id={experiment_id} exists")
            conn.execute(
                insert(logged_models).values(
                    model_id=model_id,
                    experiment_id=exp_id,
                    name=name or "model",
                    artifact_location=f"{location.rstrip('/')}/models/{model_id}/artifacts",
                    creation_timestamp_ms=now,
                    last_updated_timestamp_ms=now,
                    status="LOGGED_MODEL_PENDING",
                    lifecycle_stage="active",
                    model_type=model_type,
                    source_run_id=source_run_id or None,
                )
            )
            if param_items:
                conn.execute(
                    insert(logged_model_params),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in dict(param_items).items()],
                )
            if tag_items:
                conn.execute(
                    insert(logged_model_tags),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in dict(tag_items).items()],
                )
            return _load(conn, [model_id])[0]

    def get(self, model_id: str, allow_deleted: bool = False) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            found = _load(conn, [model_id], allow_deleted=allow_deleted)
        if not found:
            raise NotFound(f"Logged model with ID '{model_id}' not found.")
        return found[0]

    def finalize(self, model_id: str, status: str) -> dict[str, Any]:
        if status not in STATUSES:
            raise InvalidArgument(f"Invalid logged model status {status!r}")
        with write_tx(self.engine) as conn:
            changed = conn.execute(
                update(logged_models)
                .where(logged_models.c.model_id == model_id, logged_models.c.lifecycle_stage == "active")
                .values(status=status, last_updated_timestamp_ms=now_ms())
            ).rowcount
            if not changed:
                raise NotFound(f"Logged model with ID '{model_id}' not found.")
            return _load(conn, [model_id])[0]

    def set_tags(self, model_id: str, tag_items: Sequence[tuple[str, str]]) -> None:
        check_tags(tag_items)
        with write_tx(self.engine) as conn:
            _require(conn, model_id)
            upsert_values(
                conn,
                logged_model_tags,
                [{"model_id": model_id, "key": k, "value": v} for k, v in dict(tag_items).items()],
                ["model_id", "key"],
            )

    def delete_tag(self, model_id: str, key: str) -> None:
        with write_tx(self.engine) as conn:
            _require(conn, model_id)
            gone = conn.execute(
                delete(logged_model_tags).where(
                    and_(logged_model_tags.c.model_id == model_id, logged_model_tags.c.key == key)
                )
            ).rowcount
            if not gone:
                raise NotFound(f"No tag with key {key!r} on logged model {model_id}")

    def log_params(self, model_id: str, param_items: Sequence[tuple[str, str]]) -> None:
        with write_tx(self.engine) as conn:
            _require(conn, model_id)
            upsert_values(
                conn,
                logged_model_params,
                [{"model_id": model_id, "key": k, "value": v} for k, v in dict(param_items).items()],
                ["model_id", "key"],
            )

    def delete(self, model_id: str) -> None:
        with write_tx(self.engine) as conn:
            _require(conn, model_id)
            conn.execute(
                update(logged_models)
                .where(logged_models.c.model_id == model_id)
                .values(lifecycle_stage="deleted", last_updated_timestamp_ms=now_ms())
            )

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        order_by: Sequence[dict[str, Any]] | None,
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        if not 1 <= max_results <= 50_000:
            raise InvalidArgument(f"max_results must be between 1 and 50000, got {max_results}")
        exp_ids = [check_experiment_id(e) for e in experiment_ids]
        offset = search.decode_page_token(page_token)
        query = (
            select(logged_models.c.model_id)
            .where(
                logged_models.c.experiment_id.in_(exp_ids),
                logged_models.c.lifecycle_stage == "active",
                *search.logged_models_where(filter_string),
            )
            .order_by(*search.logged_models_order_by(order_by))
            .limit(max_results + 1)
            .offset(offset)
        )
        with read_tx(self.engine) as conn:
            ids, next_token = search.cut_page(list(conn.execute(query).scalars()), offset, max_results)
            return _load(conn, ids), next_token


def _require(conn: Connection, model_id: str) -> None:
    found = conn.execute(
        select(logged_models.c.model_id).where(
            logged_models.c.model_id == model_id, logged_models.c.lifecycle_stage == "active"
        )
    ).first()
    if found is None:
        raise NotFound(f"Logged model with ID '{model_id}' not found.")


def _load(conn: Connection, model_ids: list[str], allow_deleted: bool = False) -> list[dict[str, Any]]:
    if not model_ids:
        return []
    query = select(logged_models).where(logged_models.c.model_id.in_(model_ids))
    if not allow_deleted:
        query = query.where(logged_models.c.lifecycle_stage == "active")
    rows = {r["model_id"]: r for r in conn.execute(query).mappings()}
    tags: dict[str, list[dict[str, str]]] = {}
    for t in conn.execute(select(logged_model_tags).where(logged_model_tags.c.model_id.in_(model_ids))).mappings():
        tags.setdefault(t["model_id"], []).append({"key": t["key"], "value": t["value"]})
    model_params: dict[str, list[dict[str, str]]] = {}
    for p in conn.execute(select(logged_model_params).where(logged_model_params.c.model_id.in_(model_ids))).mappings():
        model_params.setdefault(p["model_id"], []).append({"key": p["key"], "value": p["value"]})
    model_metrics: dict[str, dict[tuple[str, str | None], dict[str, Any]]] = {}
    for m in conn.execute(
        select(metrics).where(metrics.c.model_id.in_(model_ids)).order_by(metrics.c.step, metrics.c.timestamp)
    ).mappings():
        # Keep the latest point per (key, dataset), as MLflow shows a model's metrics.
        model_metrics.setdefault(m["model_id"], {})[(m["key"], m["dataset_digest"])] = {
            "key": m["key"],
            "value": wire_value(m["value"], m["is_nan"]),
            "timestamp": m["timestamp"],
            "step": m["step"],
            "run_id": m["run_uuid"],
            "model_id": m["model_id"],
            **({"dataset_name": m["dataset_name"]} if m["dataset_name"] else {}),
            **({"dataset_digest": m["dataset_digest"]} if m["dataset_digest"] else {}),
        }
    result = []
    for model_id in model_ids:
        r = rows.get(model_id)
        if r is None:
            continue
        info: dict[str, Any] = {
            "model_id": model_id,
            "experiment_id": str(r["experiment_id"]),
            "name": r["name"],
            "creation_timestamp_ms": r["creation_timestamp_ms"],
            "last_updated_timestamp_ms": r["last_updated_timestamp_ms"],
            "artifact_uri": r["artifact_location"],
            "status": r["status"],
            "tags": tags.get(model_id, []),
        }
        for optional in ("model_type", "source_run_id", "status_message"):
            if r[optional]:
                info[optional] = r[optional]
        result.append(
            {
                "info": info,
                "data": {
                    "params": model_params.get(model_id, []),
                    "metrics": list(model_metrics.get(model_id, {}).values()),
                },
            }
        )
    return result


def artifact_location(engine: Engine, model_id: str) -> str:
    with read_tx(engine) as conn:
        location = conn.execute(
            select(logged_models.c.artifact_location).where(logged_models.c.model_id == model_id)
        ).scalar()
    if location is None:
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return str(location)
