"""Compile ``order_by`` lists into ORDER BY expressions, with MLflow's defaults and tie-breakers.

Rows missing the sort value (a run without the metric, a NULL ``end_time``) sort last in both
directions, as MLflow does. That is written as ``CASE WHEN value IS NULL THEN 1 ELSE 0 END``
before the value rather than ``NULLS LAST``, which SQLite only learned in 3.30 and which
MLflow's dialects disagree on. Metrics put NaN between real values and missing ones.

Every ordering ends with the table's unique key, so offset paging is stable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, String, case, func, literal, select, true
from sqlalchemy.sql.elements import ColumnElement

from cnai.db.schema import (
    experiments,
    latest_metrics,
    logged_models,
    metrics,
    model_versions,
    params,
    registered_models,
    run_tags,
    runs,
)
from cnai.errors import InvalidArgument
from cnai.tracking.search.ast import Entity, OrderKey
from cnai.tracking.search.parser import parse_order_by

Ordering = list[ColumnElement[Any]]
MAX_ORDER_BY = 50  # more entries than any client sends; keeps a hostile request's SQL small


@dataclass(frozen=True)
class OrderSpec:
    noun: str
    attributes: Mapping[str, ColumnElement[Any]]
    # Key tables a search can sort by (runs): entity -> (key/value table, link to the searched row).
    tables: Mapping[Entity, tuple[Any, Callable[[], ColumnElement[bool]]]] | None = None


def _nulls_last(value: ColumnElement[Any], ascending: bool) -> Ordering:
    return [case((value.is_(None), 1), else_=0), value.asc() if ascending else value.desc()]


def _column_order(column: ColumnElement[Any], ascending: bool) -> Ordering:
    nullable = isinstance(column, Column) and column.nullable
    if nullable:
        return _nulls_last(column, ascending)
    return [column.asc() if ascending else column.desc()]


def _entries(order_by: Sequence[str] | None) -> list[str]:
    if order_by is None:
        return []
    if isinstance(order_by, str):  # a lone string is one entry, not a sequence of characters
        order_by = [order_by]
    entries = list(order_by)
    if len(entries) > MAX_ORDER_BY:
        raise InvalidArgument(f"order_by has {len(entries)} entries; at most {MAX_ORDER_BY} are allowed")
    for entry in entries:
        if not isinstance(entry, str):
            raise InvalidArgument(f"order_by entries must be strings such as 'name ASC', got {entry!r}")
    return entries


def _ident(column: ColumnElement[Any]) -> str:
    """A name for a sort column, for duplicate checks (expressions overload ==, so not themselves)."""
    assert isinstance(column, Column)
    return f"{column.table.name}.{column.name}"


def _resolve(spec: OrderSpec, key: OrderKey, seen: set[str]) -> Ordering:
    """The ORDER BY expressions for one entry; records the field in ``seen``."""
    if key.entity is Entity.ATTRIBUTE:
        column = spec.attributes.get(key.key)
        if column is None:
            raise InvalidArgument(
                f"Invalid order_by attribute {key.key!r} for {spec.noun}; valid attributes: "
                + ", ".join(sorted(spec.attributes))
            )
        ident = _ident(column)
        ordering = _column_order(column, key.ascending)
    elif spec.tables and key.entity in spec.tables:
        table, link = spec.tables[key.entity]
        ident = f"{key.entity.value}.{key.key}"
        ordering = _key_table_order(key, table, link)
    else:
        allowed = ["attributes", *(e.value for e in (spec.tables or {}))]
        raise InvalidArgument(
            f"{spec.noun} cannot be ordered by {key.entity.value}; use " + ", ".join(f"{a}.<key>" for a in allowed)
        )
    if ident in seen:
        raise InvalidArgument(f"order_by names {key.entity.value}.{key.key} more than once")
    seen.add(ident)
    return ordering


def _key_table_order(key: OrderKey, table: Any, link: Callable[[], ColumnElement[bool]]) -> Ordering:
    where = (link(), table.c.key == literal(key.key, String()))
    value = select(table.c.value).where(*where).scalar_subquery()
    if "is_nan" not in table.c:
        return _nulls_last(value, key.ascending)
    # 0: a real value, 1: NaN, 2: no such metric; MLflow's SQL store sorts the same way.
    rank = func.coalesce(select(case((table.c.is_nan == true(), 1), else_=0)).where(*where).scalar_subquery(), 2)
    return [rank.asc(), value.asc() if key.ascending else value.desc()]


def compile_order_by(spec: OrderSpec, order_by: Sequence[str] | None) -> tuple[Ordering, set[str]]:
    """ORDER BY expressions for ``order_by`` and the set of fields they name."""
    seen: set[str] = set()
    ordering: Ordering = []
    for entry in _entries(order_by):
        ordering.extend(_resolve(spec, parse_order_by(entry), seen))
    return ordering, seen


def _has(seen: set[str], column: ColumnElement[Any]) -> bool:
    return _ident(column) in seen


# -- runs --------------------------------------------------------------------------------------
RUNS = OrderSpec(
    noun="runs",
    attributes={
        "run_id": runs.c.run_uuid,
        "run_uuid": runs.c.run_uuid,
        "run_name": runs.c.name,
        "status": runs.c.status,
        "user_id": runs.c.user_id,
        "artifact_uri": runs.c.artifact_uri,
        "lifecycle_stage": runs.c.lifecycle_stage,
        "start_time": runs.c.start_time,
        "created": runs.c.start_time,
        "Created": runs.c.start_time,
        "end_time": runs.c.end_time,
    },
    tables={
        Entity.METRIC: (latest_metrics, lambda: latest_metrics.c.run_uuid == runs.c.run_uuid),
        Entity.PARAM: (params, lambda: params.c.run_uuid == runs.c.run_uuid),
        Entity.TAG: (run_tags, lambda: run_tags.c.run_uuid == runs.c.run_uuid),
    },
)


def runs_order_by(order_by: Sequence[str] | None) -> Ordering:
    """MLflow's default is ``start_time DESC``; ties always break by ``run_uuid``."""
    ordering, seen = compile_order_by(RUNS, order_by)
    if not _has(seen, runs.c.start_time):
        ordering.append(runs.c.start_time.desc())
    if not _has(seen, runs.c.run_uuid):
        ordering.append(runs.c.run_uuid.asc())
    return ordering


# -- experiments -------------------------------------------------------------------------------
EXPERIMENTS = OrderSpec(
    noun="experiments",
    attributes={
        "name": experiments.c.name,
        "experiment_id": experiments.c.experiment_id,
        "creation_time": experiments.c.creation_time,
        "last_update_time": experiments.c.last_update_time,
    },
)


def experiments_order_by(order_by: Sequence[str] | None) -> Ordering:
    """MLflow's default is ``creation_time DESC, experiment_id ASC``; otherwise ties break by
    ``experiment_id DESC``."""
    ordering, seen = compile_order_by(EXPERIMENTS, order_by or ["creation_time DESC", "experiment_id ASC"])
    if not _has(seen, experiments.c.experiment_id):
        ordering.append(experiments.c.experiment_id.desc())
    return ordering


# -- registry ----------------------------------------------------------------------------------
REGISTERED_MODELS = OrderSpec(
    noun="registered models",
    attributes={
        "name": registered_models.c.name,
        # MLflow's SQL store sorts "timestamp" by the last update, not creation.
        "timestamp": registered_models.c.last_updated_time,
        "last_updated_timestamp": registered_models.c.last_updated_time,
        "creation_timestamp": registered_models.c.creation_time,
    },
)


def registered_models_order_by(order_by: Sequence[str] | None) -> Ordering:
    """Ties (and the default) order by ``name ASC``; names are unique."""
    ordering, seen = compile_order_by(REGISTERED_MODELS, order_by)
    if not _has(seen, registered_models.c.name):
        ordering.append(registered_models.c.name.asc())
    return ordering


MODEL_VERSIONS = OrderSpec(
    noun="model versions",
    attributes={
        "name": registered_models.c.name,
        "version_number": model_versions.c.version,
        "version": model_versions.c.version,
        "creation_timestamp": model_versions.c.creation_time,
        "last_updated_timestamp": model_versions.c.last_updated_time,
    },
)


def model_versions_order_by(order_by: Sequence[str] | None) -> Ordering:
    """Over ``model_versions JOIN registered_models``; ties order by ``name ASC, version DESC``."""
    ordering, seen = compile_order_by(MODEL_VERSIONS, order_by)
    if not _has(seen, registered_models.c.name):
        ordering.append(registered_models.c.name.asc())
    if not _has(seen, model_versions.c.version):
        ordering.append(model_versions.c.version.desc())
    return ordering


# -- logged models -----------------------------------------------------------------------------
# Logged models take structured entries: {"field_name", "ascending", "dataset_name", "dataset_digest"}.
LOGGED_MODEL_FIELDS: Mapping[str, ColumnElement[Any]] = {
    "name": logged_models.c.name,
    "model_id": logged_models.c.model_id,
    "model_type": logged_models.c.model_type,
    "status": logged_models.c.status,
    "source_run_id": logged_models.c.source_run_id,
    "creation_timestamp": logged_models.c.creation_timestamp_ms,
    "creation_time": logged_models.c.creation_timestamp_ms,
    "last_updated_timestamp": logged_models.c.last_updated_timestamp_ms,
    "last_updated_time": logged_models.c.last_updated_timestamp_ms,
}


def logged_models_order_by(order_by: Sequence[Mapping[str, Any]] | None) -> Ordering:
    """Ties order by ``creation_timestamp DESC, model_id ASC`` (MLflow's tie-breakers)."""
    entries = list(order_by or [])
    if len(entries) > MAX_ORDER_BY:
        raise InvalidArgument(f"order_by has {len(entries)} entries; at most {MAX_ORDER_BY} are allowed")
    ordering: Ordering = []
    seen: set[str] = set()
    for entry in entries:
        field_name, ascending = _logged_model_entry(entry)
        if "." in field_name:
            ident = field_name
            ordering.extend(_logged_model_metric_order(field_name, ascending, entry))
        else:
            column = LOGGED_MODEL_FIELDS.get(field_name)
            if column is None:
                raise InvalidArgument(
                    f"Invalid order_by field_name {field_name!r} for logged models; valid: "
                    + ", ".join(sorted(LOGGED_MODEL_FIELDS))
                    + ", metrics.<key>"
                )
            ident = _ident(column)
            ordering.extend(_column_order(column, ascending))
        if ident in seen:
            raise InvalidArgument(f"order_by names {field_name} more than once")
        seen.add(ident)
    if not _has(seen, logged_models.c.creation_timestamp_ms):
        ordering.append(logged_models.c.creation_timestamp_ms.desc())
    if not _has(seen, logged_models.c.model_id):
        ordering.append(logged_models.c.model_id.asc())
    return ordering


def _logged_model_entry(entry: Any) -> tuple[str, bool]:
    if not isinstance(entry, Mapping):
        raise InvalidArgument(f"order_by entries must be objects like {{'field_name': 'name'}}, got {entry!r}")
    field_name = entry.get("field_name")
    if not isinstance(field_name, str) or not field_name.strip():
        raise InvalidArgument("Each order_by entry needs a field_name, such as 'creation_timestamp'")
    ascending = entry.get("ascending", True)
    if ascending is None:  # an unset proto field may arrive as null
        ascending = True
    if not isinstance(ascending, bool):
        raise InvalidArgument(f"order_by 'ascending' must be true or false, got {ascending!r} for {field_name}")
    return field_name.strip(), ascending


def _logged_model_metric_order(field_name: str, ascending: bool, entry: Mapping[str, Any]) -> Ordering:
    entity, key = field_name.split(".", 1)
    if entity != "metrics" or not key:
        raise InvalidArgument(f"Invalid order_by field_name {field_name!r}: only metrics.<key> may be dotted")
    dataset_name, dataset_digest = entry.get("dataset_name"), entry.get("dataset_digest")
    for label, given in (("dataset_name", dataset_name), ("dataset_digest", dataset_digest)):
        if given is not None and not isinstance(given, str):
            raise InvalidArgument(f"order_by {label} must be a string, got {given!r}")
    if dataset_digest and not dataset_name:
        raise InvalidArgument("order_by dataset_digest can only be given together with dataset_name")
    where = [metrics.c.model_id == logged_models.c.model_id, metrics.c.key == literal(key, String())]
    if dataset_name:
        where.append(metrics.c.dataset_name == literal(dataset_name, String()))
    if dataset_digest:
        where.append(metrics.c.dataset_digest == literal(dataset_digest, String()))

    def latest(column: ColumnElement[Any]) -> ColumnElement[Any]:
        # The model's latest point of the metric, as MLflow picks it.
        return (
            select(column)
            .where(*where)
            .order_by(metrics.c.timestamp.desc(), metrics.c.step.desc(), metrics.c.run_uuid.asc())
            .limit(1)
            .scalar_subquery()
        )

    rank = func.coalesce(latest(case((metrics.c.is_nan == true(), 1), else_=0)), 2)
    value = latest(metrics.c.value)
    return [rank.asc(), value.asc() if ascending else value.desc()]
