"""Runs and what is logged to them: params, tags, metrics, dataset inputs and model outputs.

Reads return MLflow's ``Run`` message as a dict, built by ``run_messages`` for a whole page of
runs at once, so a search page costs two statements, not a few per run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from cnai._clock import now_ms
from cnai.db.engine import one_statement, read_tx, sqlite_read, sqlite_write, write_tx
from cnai.db.schema import (
    datasets,
    params,
    run_inputs,
    run_outputs,
    run_tags,
    runs,
)
from cnai.db.upsert import insert_for, upsert_values
from cnai.errors import InvalidArgument, NotFound
from cnai.tracking import metrics as metric_points
from cnai.tracking import pg_writes, run_messages, search, sqlite_writes
from cnai.tracking.experiments import _view_stages
from cnai.tracking.metrics import MetricPoint
from cnai.tracking.names import random_run_name
from cnai.tracking.validation import (
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    MAX_BATCH_TOTAL,
    MAX_KEY_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_RESULTS_RUNS,
    MAX_RUN_NAME_LENGTH,
    check_experiment_id,
    check_key,
    check_run_id,
    check_tags,
    check_value,
)

RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
RUN_STATUSES = frozenset({"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"})


class RunStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # PostgreSQL pays a round trip per statement: its hot writes take pg_writes' one-statement path.
        self._pg = engine.dialect.name == "postgresql"

    # -- lifecycle -------------------------------------------------------------------------
    def create(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[tuple[str, str]],
        run_name: str | None,
    ) -> dict[str, Any]:
        exp_id = check_experiment_id(experiment_id)
        tag_map = dict(tags)
        check_tags(tag_map.items())
        if run_name and tag_map.get(RUN_NAME_TAG, run_name) != run_name:
            raise InvalidArgument("run_name and the mlflow.runName tag disagree")
        name = check_value(run_name or tag_map.get(RUN_NAME_TAG) or random_run_name(), MAX_RUN_NAME_LENGTH, "Run name")
        check_value(user_id or "", MAX_KEY_LENGTH, "user_id")
        tag_map[RUN_NAME_TAG] = name
        if user_id:
            tag_map.setdefault(USER_TAG, user_id)
        run_id = uuid.uuid4().hex
        start = start_time or now_ms()
        if self._pg:
            return self._create_pg(experiment_id, exp_id, run_id, name, user_id or "", start, tag_map)
        with sqlite_write(self.engine) as cur:
            exp = sqlite_writes.experiment_state(cur, exp_id)
            if exp is None:
                raise NotFound(f"No Experiment with id={experiment_id} exists")
            artifact_location, stage = exp
            if stage != "active":
                raise InvalidArgument(f"The experiment {experiment_id} must be in the 'active' state.")
            row = {
                "run_uuid": run_id,
                "experiment_id": exp_id,
                "name": name,
                "user_id": user_id or "",
                "status": "RUNNING",
                "start_time": start,
                "end_time": None,
                "lifecycle_stage": "active",
                "artifact_uri": f"{artifact_location.rstrip('/')}/{run_id}/artifacts",
            }
            sqlite_writes.insert_run(cur, row, tag_map)
        return _new_run(row, tag_map)

    def _create_pg(
        self, given_id: str, exp_id: int, run_id: str, name: str, user_id: str, start: int, tags: dict[str, str]
    ) -> dict[str, Any]:
        with one_statement(self.engine) as conn:
            stage, artifact_uri = pg_writes.create_run(
                conn, run_id=run_id, experiment_id=exp_id, name=name, user_id=user_id, start_time=start, tags=tags
            )
        if stage is None:
            raise NotFound(f"No Experiment with id={given_id} exists")
        if stage != "active" or artifact_uri is None:
            raise InvalidArgument(f"The experiment {given_id} must be in the 'active' state.")
        row = {
            "run_uuid": run_id,
            "experiment_id": exp_id,
            "name": name,
            "user_id": user_id,
            "status": "RUNNING",
            "start_time": start,
            "end_time": None,
            "lifecycle_stage": "active",
            "artifact_uri": artifact_uri,
        }
        return _new_run(row, tags)

    def get(self, run_id: str, *, wire: bool = False) -> dict[str, Any]:
        """The run; ``wire``: for the API's answer (see ``run_messages.load``)."""
        check_run_id(run_id)
        if not self._pg:
            with sqlite_read(self.engine) as cur:
                row = sqlite_writes.run_row(cur, run_id)
                found = run_messages.load_with_cursor(cur, "sqlite", [row] if row else [], wire=wire)
        else:
            with read_tx(self.engine) as conn:
                row = pg_writes.run_row(conn, run_id)
                found = run_messages.load(conn, [row] if row else [], wire=wire)
        if not found:
            raise NotFound(f"Run with id={run_id} not found")
        return found[0]

    def update(self, run_id: str, status: str | None, end_time: int | None, run_name: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if status:
            if status not in RUN_STATUSES:
                raise InvalidArgument(f"Invalid run status {status!r}")
            values["status"] = status
            if status == "RUNNING":
                values["end_time"] = None  # re-opening a finished run (mlflow.start_run(run_id=...))
        if end_time is not None:
            values["end_time"] = end_time
        if run_name:
            values["name"] = check_value(run_name, MAX_RUN_NAME_LENGTH, "Run name")
        check_run_id(run_id)
        if not self._pg:
            with sqlite_write(self.engine) as cur:
                changed = sqlite_writes.update_run(cur, run_id, values)
                if changed is None:
                    _check_active(run_id, (sqlite_writes.run_state(cur, run_id) or (None,))[0])
                    raise NotFound(f"Run with id={run_id} not found")
                if run_name:
                    sqlite_writes.upsert_tags(cur, run_id, {RUN_NAME_TAG: run_name}, run_name)
            return run_messages.run_info(changed)
        # Without a new name the change is one statement: no transaction of its own on PostgreSQL.
        with one_statement(self.engine) if not run_name else write_tx(self.engine) as conn:
            # One statement checks, changes and returns the run; the slow path only explains a miss.
            row = pg_writes.update_run(conn, run_id, values)
            if row is None:
                _require_active(conn, run_id)
                raise NotFound(f"Run with id={run_id} not found")
            if run_name:
                _upsert_tags(conn, run_id, [(RUN_NAME_TAG, run_name)])
            return run_messages.run_info(row)

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        with write_tx(self.engine) as conn:
            _require_run(conn, run_id)
            conn.execute(
                update(runs)
                .where(runs.c.run_uuid == run_id)
                .values(lifecycle_stage=stage, deleted_time=now_ms() if stage == "deleted" else None)
            )

    # -- logging ---------------------------------------------------------------------------
    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, [], [], [(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        with write_tx(self.engine) as conn:
            _require_active(conn, run_id)
            gone = conn.execute(
                delete(run_tags).where(and_(run_tags.c.run_uuid == run_id, run_tags.c.key == key))
            ).rowcount
            if not gone:
                raise NotFound(f"No tag with name: {key} in run with id {run_id}")

    def log_param(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, [], [(key, value)], [])

    def log_metric(self, run_id: str, point: MetricPoint) -> None:
        self.log_batch(run_id, [point], [], [])

    def log_batch(
        self,
        run_id: str,
        points: list[MetricPoint],
        param_items: Sequence[tuple[str, str]],
        tag_items: Sequence[tuple[str, str]],
    ) -> None:
        _check_batch_limits(points, param_items, tag_items)
        for key, value in param_items:
            check_key(key, "param")
            check_value(value, MAX_PARAM_VALUE_LENGTH, "Param")
        check_tags(tag_items)
        if self._pg:
            try:
                self._log_batch_pg(run_id, points, param_items, tag_items)
                return
            except IntegrityError:
                if not param_items:
                    raise
                # A concurrent request stored one of these params after the statement's snapshot:
                # the transactional path below reads what it stored and answers as it should.
        if not self._pg:
            self._log_batch_sqlite(run_id, points, param_items, tag_items)
            return
        with write_tx(self.engine) as conn:  # PostgreSQL, after a concurrent param (see above)
            _require_active(conn, run_id)
            if param_items:
                _insert_params(conn, run_id, param_items)
            if tag_items:
                _upsert_tags(conn, run_id, tag_items)
            metric_points.write_points(conn, run_id, points)

    def _log_batch_sqlite(
        self,
        run_id: str,
        points: list[MetricPoint],
        param_items: Sequence[tuple[str, str]],
        tag_items: Sequence[tuple[str, str]],
    ) -> None:
        """The batch in one transaction on a bare cursor (``sqlite_writes``)."""
        check_run_id(run_id)
        wanted = _wanted_params(param_items)
        tags = _checked_tags(tag_items)
        with sqlite_write(self.engine) as cur:
            state = sqlite_writes.run_state(cur, run_id)
            _check_active(run_id, state[0] if state else None)
            if wanted:
                changed = sqlite_writes.insert_params(cur, run_id, wanted)
                if changed:  # raised inside the transaction: nothing of the batch is kept
                    raise _param_changed(run_id, *changed[0])
            if tags:
                sqlite_writes.upsert_tags(cur, run_id, tags, tags.get(RUN_NAME_TAG))
            if points:
                sqlite_writes.write_points(cur, run_id, points)

    def _log_batch_pg(
        self,
        run_id: str,
        points: list[MetricPoint],
        param_items: Sequence[tuple[str, str]],
        tag_items: Sequence[tuple[str, str]],
    ) -> None:
        """The batch as one statement (``pg_writes``): all of it or, when refused, nothing."""
        check_run_id(run_id)
        wanted = _wanted_params(param_items)
        tags = _checked_tags(tag_items)
        with one_statement(self.engine) as conn:
            stage, changed = pg_writes.log_batch(conn, run_id, points, wanted, tags, tags.get(RUN_NAME_TAG))
        _check_active(run_id, stage)
        if changed:  # nothing was written; name the first, as the portable path does
            raise _param_changed(run_id, *changed[0])

    def log_inputs(self, run_id: str, dataset_inputs: list[dict[str, Any]]) -> None:
        with write_tx(self.engine) as conn:
            exp_id = _require_active(conn, run_id)
            for item in dataset_inputs:
                ds = item["dataset"]
                # Insert-or-ignore, then read: two runs logging the same dataset at once both succeed.
                conn.execute(
                    insert_for(conn, datasets)
                    .values(dataset_uuid=uuid.uuid4().hex, experiment_id=exp_id, **ds)
                    .on_conflict_do_nothing(index_elements=["experiment_id", "name", "digest"])
                )
                dataset_uuid = conn.execute(
                    select(datasets.c.dataset_uuid).where(
                        datasets.c.experiment_id == exp_id,
                        datasets.c.name == ds["name"],
                        datasets.c.digest == ds["digest"],
                    )
                ).scalar_one()
                stmt = insert_for(conn, run_inputs).values(
                    run_uuid=run_id, dataset_uuid=dataset_uuid, tags=orjson.dumps(item["tags"]).decode()
                )
                conn.execute(stmt.on_conflict_do_nothing())

    def log_outputs(self, run_id: str, models: list[tuple[str, int]]) -> None:
        with write_tx(self.engine) as conn:
            _require_active(conn, run_id)
            for model_id, step in models:
                stmt = insert_for(conn, run_outputs).values(run_uuid=run_id, model_id=model_id, step=step)
                conn.execute(stmt.on_conflict_do_nothing())

    # -- reading ---------------------------------------------------------------------------
    def metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        check_run_id(run_id)
        with read_tx(self.engine) as conn:
            _require_run(conn, run_id)
            return metric_points.history(conn, run_id, key, max_results, page_token)

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
        *,
        wire: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of runs; ``wire``: for the API's answer (see ``run_messages.load``)."""
        if not 1 <= max_results <= MAX_RESULTS_RUNS:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_RESULTS_RUNS}, got {max_results}")
        exp_ids = [check_experiment_id(e) for e in experiment_ids]
        offset = search.decode_page_token(page_token)
        query = (
            select(*run_messages.RUN_COLUMNS)
            .where(
                runs.c.experiment_id.in_(exp_ids),
                runs.c.lifecycle_stage.in_(_view_stages(view_type)),
                *search.runs_where(filter_string),
            )
            .order_by(*search.runs_order_by(order_by))
            .limit(max_results + 1)
            .offset(offset)
        )
        with read_tx(self.engine) as conn:
            # The page's runs rows come with the filter's answer: no second query for them.
            rows, next_token = search.cut_page(list(conn.execute(query).mappings()), offset, max_results)
            return run_messages.load(conn, rows, wire=wire), next_token


def _check_batch_limits(points: Sequence[Any], param_items: Sequence[Any], tag_items: Sequence[Any]) -> None:
    if len(points) > MAX_BATCH_METRICS:
        raise InvalidArgument(f"A batch may hold at most {MAX_BATCH_METRICS} metrics, got {len(points)}")
    if len(param_items) > MAX_BATCH_PARAMS:
        raise InvalidArgument(f"A batch may hold at most {MAX_BATCH_PARAMS} params, got {len(param_items)}")
    if len(tag_items) > MAX_BATCH_TAGS:
        raise InvalidArgument(f"A batch may hold at most {MAX_BATCH_TAGS} tags, got {len(tag_items)}")
    if len(points) + len(param_items) + len(tag_items) > MAX_BATCH_TOTAL:
        raise InvalidArgument(f"A batch may hold at most {MAX_BATCH_TOTAL} items in total")


_SELECT_RUN_STATE = select(runs.c.lifecycle_stage, runs.c.experiment_id).where(runs.c.run_uuid == bindparam("run_id"))


def _require_run(conn: Connection, run_id: str) -> Any:
    check_run_id(run_id)
    row = conn.execute(_SELECT_RUN_STATE, {"run_id": run_id}).first()
    if row is None:
        raise NotFound(f"Run with id={run_id} not found")
    return row


def _require_active(conn: Connection, run_id: str) -> int:
    row = _require_run(conn, run_id)
    _check_active(run_id, row.lifecycle_stage)
    return int(row.experiment_id)


def _check_active(run_id: str, stage: str | None) -> None:
    if stage is None:
        raise NotFound(f"Run with id={run_id} not found")
    # MLflow answers INVALID_STATE (HTTP 500) here, which the client retries for minutes;
    # this is the caller's mistake, so it is a 400.
    if stage != "active":
        raise InvalidArgument(f"The run {run_id} must be in the 'active' state. Current state is deleted.")


def _insert_params(conn: Connection, run_id: str, items: Sequence[tuple[str, str]]) -> None:
    """Params are write-once: the same value again is fine, a different one is an error.

    Insert-or-ignore, then read back what is stored: two statements, and correct when a
    concurrent request (a client retry, say) writes the same key at the same time.
    """
    wanted = _wanted_params(items)
    conn.execute(
        insert_for(conn, params).on_conflict_do_nothing(),
        [{"run_uuid": run_id, "key": k, "value": v} for k, v in wanted.items()],
    )
    _check_stored_params(conn, run_id, wanted)


def _wanted_params(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for key, value in items:
        if wanted.get(key, value) != value:
            raise InvalidArgument(f"Duplicate parameter {key!r} with different values in one batch")
        wanted[key] = value
    return wanted


def _check_stored_params(conn: Connection, run_id: str, wanted: dict[str, str]) -> None:
    """Stored params equal ``wanted`` where both have the key; a later statement than the
    insert, so it sees values that concurrent requests committed meanwhile."""
    stored = conn.execute(
        select(params.c.key, params.c.value).where(params.c.run_uuid == run_id, params.c.key.in_(wanted))
    ).all()
    for key, value in stored:
        if value != wanted[key]:
            raise _param_changed(run_id, key, value, wanted[key])


def _param_changed(run_id: str, key: str, stored: str, value: str) -> InvalidArgument:
    return InvalidArgument(
        f"Changing param values is not allowed. Param with key='{key}' was already logged with "
        f"value='{stored}' for run ID='{run_id}'. Attempted logging new value '{value}'."
    )


def _checked_tags(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    tags = dict(items)
    if RUN_NAME_TAG in tags:
        check_value(tags[RUN_NAME_TAG], MAX_RUN_NAME_LENGTH, "Run name")
    return tags


def _new_run(row: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    # A new run holds exactly what was just written: answer from it rather than read it back.
    tag_list = [{"key": k, "value": v} for k, v in tags.items()]
    return {"info": run_messages.run_info(row), "data": {"metrics": [], "params": [], "tags": tag_list}}


def _upsert_tags(conn: Connection, run_id: str, items: Sequence[tuple[str, str]]) -> None:
    tags = _checked_tags(items)
    upsert_values(
        conn,
        run_tags,
        [{"run_uuid": run_id, "key": k, "value": v} for k, v in tags.items()],
        ["run_uuid", "key"],
    )
    if RUN_NAME_TAG in tags:
        conn.execute(update(runs).where(runs.c.run_uuid == run_id).values(name=tags[RUN_NAME_TAG]))
