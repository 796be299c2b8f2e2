"""Experiments: create, read, search, rename, delete/restore, tags.

Results are plain dicts in MLflow's wire shape (``Experiment`` message): the REST layer
serialises them as they are, and nothing in between needs another representation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cnai._clock import now_ms
from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import experiment_tags, experiments, runs
from cnai.db.upsert import upsert_values
from cnai.errors import AlreadyExists, InvalidArgument, NotFound
from cnai.tracking import search
from cnai.tracking.validation import (
    MAX_EXPERIMENT_NAME_LENGTH,
    check_experiment_id,
    check_tags,
)

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
VIEW_TYPES = {"ACTIVE_ONLY": ("active",), "DELETED_ONLY": ("deleted",), "ALL": ("active", "deleted")}


def artifact_location_for(experiment_id: int) -> str:
    # The stock server's choice with the artifact proxy on; the client resolves it against the
    # tracking URI, so artifacts flow through this server whatever store is behind it.
    return f"mlflow-artifacts:/{experiment_id}"


class ExperimentStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ensure_default(self) -> None:
        """Create experiment 0 ("Default") once; safe when several servers start together."""
        with read_tx(self.engine) as conn:
            if conn.execute(select(experiments.c.experiment_id).where(experiments.c.experiment_id == 0)).first():
                return
        now = now_ms()
        try:
            with write_tx(self.engine) as conn:
                conn.execute(
                    insert(experiments).values(
                        experiment_id=DEFAULT_EXPERIMENT_ID,
                        name=DEFAULT_EXPERIMENT_NAME,
                        artifact_location=artifact_location_for(DEFAULT_EXPERIMENT_ID),
                        lifecycle_stage="active",
                        creation_time=now,
                        last_update_time=now,
                    )
                )
        except IntegrityError:
            pass  # another process created it first

    def create(self, name: str, artifact_location: str | None, tags: Sequence[tuple[str, str]]) -> str:
        _check_name(name)
        check_tags(tags)
        now = now_ms()
        try:
            with write_tx(self.engine) as conn:
                new_id = conn.execute(
                    insert(experiments)
                    .values(
                        name=name,
                        artifact_location=artifact_location or "",
                        lifecycle_stage="active",
                        creation_time=now,
                        last_update_time=now,
                    )
                    .returning(experiments.c.experiment_id)
                ).scalar_one()
                if not artifact_location:
                    conn.execute(
                        update(experiments)
                        .where(experiments.c.experiment_id == new_id)
                        .values(artifact_location=artifact_location_for(new_id))
                    )
                if tags:
                    conn.execute(
                        insert(experiment_tags),
                        [{"experiment_id": new_id, "key": k, "value": v} for k, v in dict(tags).items()],
                    )
        except IntegrityError:
            raise AlreadyExists(f"Experiment(name={name}) already exists.") from None
        return str(new_id)

    def get(self, experiment_id: str) -> dict[str, Any]:
        exp_id = check_experiment_id(experiment_id)
        with read_tx(self.engine) as conn:
            found = self._load(conn, [experiments.c.experiment_id == exp_id])
        if not found:
            raise NotFound(f"No Experiment with id={experiment_id} exists")
        return found[0]

    def get_by_name(self, name: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            found = self._load(conn, [experiments.c.name == name])
        if not found:
            raise NotFound(f"Could not find experiment with name '{name}'")
        return found[0]

    def search(
        self,
        view_type: str,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        stages = _view_stages(view_type)
        if not 1 <= max_results <= 50_000:
            raise InvalidArgument(f"max_results must be between 1 and 50000, got {max_results}")
        offset = search.decode_page_token(page_token)
        where = [experiments.c.lifecycle_stage.in_(stages), *search.experiments_where(filter_string)]
        ordering = search.experiments_order_by(order_by)
        with read_tx(self.engine) as conn:
            found = self._load(conn, where, ordering, limit=max_results + 1, offset=offset)
        return search.cut_page(found, offset, max_results)

    def rename(self, experiment_id: str, new_name: str) -> None:
        _check_name(new_name)
        exp_id = self._require_id(experiment_id, active=True)
        try:
            with write_tx(self.engine) as conn:
                conn.execute(
                    update(experiments)
                    .where(experiments.c.experiment_id == exp_id)
                    .values(name=new_name, last_update_time=now_ms())
                )
        except IntegrityError:
            raise AlreadyExists(f"Experiment(name={new_name}) already exists.") from None

    def set_lifecycle(self, experiment_id: str, stage: str) -> None:
        """Delete (stage 'deleted') or restore ('active') an experiment together with its runs."""
        exp_id = self._require_id(experiment_id)
        if exp_id == DEFAULT_EXPERIMENT_ID and stage == "deleted":
            raise InvalidArgument("Cannot delete the default experiment '0'.")
        now = now_ms()
        with write_tx(self.engine) as conn:
            conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == exp_id)
                .values(lifecycle_stage=stage, last_update_time=now)
            )
            conn.execute(
                update(runs)
                .where(runs.c.experiment_id == exp_id)
                .values(lifecycle_stage=stage, deleted_time=now if stage == "deleted" else None)
            )

    def set_tag(self, experiment_id: str, key: str, value: str) -> None:
        check_tags([(key, value)])
        exp_id = self._require_id(experiment_id, active=True)
        with write_tx(self.engine) as conn:
            upsert_values(
                conn,
                experiment_tags,
                [{"experiment_id": exp_id, "key": key, "value": value}],
                ["experiment_id", "key"],
            )

    def delete_tag(self, experiment_id: str, key: str) -> None:
        exp_id = self._require_id(experiment_id, active=True)
        with write_tx(self.engine) as conn:
            gone = conn.execute(
                delete(experiment_tags).where(
                    and_(experiment_tags.c.experiment_id == exp_id, experiment_tags.c.key == key)
                )
            ).rowcount
        if not gone:
            raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")

    def _require_id(self, experiment_id: str, *, active: bool = False) -> int:
        exp = self.get(experiment_id)
        if active and exp["lifecycle_stage"] != "active":
            raise InvalidArgument(f"The experiment {experiment_id} must be in the 'active' state.")
        return int(exp["experiment_id"])

    @staticmethod
    def _load(
        conn: Connection,
        where: Sequence[Any],
        order_by: Sequence[Any] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        query = select(experiments).where(*where)
        if order_by:
            query = query.order_by(*order_by)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return []
        ids = [r["experiment_id"] for r in rows]
        tags: dict[int, list[dict[str, str]]] = {}
        for t in conn.execute(select(experiment_tags).where(experiment_tags.c.experiment_id.in_(ids))).mappings():
            tags.setdefault(t["experiment_id"], []).append({"key": t["key"], "value": t["value"]})
        return [
            {
                "experiment_id": str(r["experiment_id"]),
                "name": r["name"],
                "artifact_location": r["artifact_location"],
                "lifecycle_stage": r["lifecycle_stage"],
                "last_update_time": r["last_update_time"],
                "creation_time": r["creation_time"],
                "tags": tags.get(r["experiment_id"], []),
            }
            for r in rows
        ]


def _check_name(name: str | None) -> None:
    # Names are kept exactly as given (the stock server does not strip them): mlflow.set_experiment
    # looks a name up by exact match before creating it.
    if not name or not name.strip():
        raise InvalidArgument("Experiment name must be a non-empty string")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidArgument(f"Experiment name exceeds {MAX_EXPERIMENT_NAME_LENGTH} characters")


def _view_stages(view_type: str | None) -> tuple[str, ...]:
    key = (view_type or "ACTIVE_ONLY").upper()
    if key not in VIEW_TYPES:
        raise InvalidArgument(f"Invalid view_type {view_type!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL")
    return VIEW_TYPES[key]
