"""Registered models, versions, tags and aliases, returned in MLflow's wire shapes.

A registered model has a surrogate id, so a rename is one UPDATE and versions, tags and aliases
move with it. Version numbers come from a per-model counter and are never reused after a delete.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cnai._clock import now_ms
from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import (
    logged_models,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from cnai.db.upsert import upsert_values
from cnai.errors import AlreadyExists, InvalidArgument, NotFound
from cnai.tracking import search
from cnai.tracking.validation import check_tags

_ALIAS = re.compile(r"^[\w\-]{1,255}$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+|version\d+)$", re.IGNORECASE)
STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


def check_model_name(name: str | None) -> str:
    if not name or not name.strip():
        raise InvalidArgument("Registered model name must be a non-empty string")
    if len(name) > 256 or any(ord(c) < 32 for c in name):
        raise InvalidArgument(f"Invalid registered model name {name[:80]!r}")
    return name


def check_version(version: str | int | None) -> int:
    try:
        number = int(str(version))
    except ValueError:
        raise InvalidArgument(f"Model version must be an integer, got {version!r}") from None
    if not 1 <= number <= 2**31 - 1:
        raise InvalidArgument(f"Model version must be between 1 and 2147483647, got {version!r}")
    return number


def check_alias(alias: str | None) -> str:
    if not alias or not _ALIAS.match(alias):
        raise InvalidArgument(f"Invalid alias {alias!r}: use letters, digits, '_' and '-' (at most 255)")
    if _RESERVED_ALIAS.match(alias):
        raise InvalidArgument(f"Alias {alias!r} is reserved (latest, vN and versionN are not allowed)")
    return alias


class RegistryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- registered models ----------------------------------------------------------------
    def create_model(self, name: str, tags: Sequence[tuple[str, str]], description: str) -> dict[str, Any]:
        check_model_name(name)
        check_tags(tags)
        now = now_ms()
        try:
            with write_tx(self.engine) as conn:
                ref = conn.execute(
                    insert(registered_models)
                    .values(name=name, creation_time=now, last_updated_time=now, description=description or "")
                    .returning(registered_models.c.id)
                ).scalar_one()
                if tags:
                    conn.execute(
                        insert(registered_model_tags),
                        [{"model_ref": ref, "key": k, "value": v} for k, v in dict(tags).items()],
                    )
                return _load_models(conn, [ref])[0]
        except IntegrityError:
            raise AlreadyExists(f"Registered Model (name={name}) already exists.") from None

    def get_model(self, name: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return _load_models(conn, [_model_ref(conn, name)])[0]

    def rename_model(self, name: str, new_name: str) -> dict[str, Any]:
        check_model_name(new_name)
        try:
            with write_tx(self.engine) as conn:
                ref = _model_ref(conn, name)
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.id == ref)
                    .values(name=new_name, last_updated_time=now_ms())
                )
                return _load_models(conn, [ref])[0]
        except IntegrityError:
            raise AlreadyExists(f"Registered Model (name={new_name}) already exists.") from None

    def update_model(self, name: str, description: str | None) -> dict[str, Any]:
        with write_tx(self.engine) as conn:
            ref = _model_ref(conn, name)
            values: dict[str, Any] = {"last_updated_time": now_ms()}
            if description is not None:
                values["description"] = description
            conn.execute(update(registered_models).where(registered_models.c.id == ref).values(**values))
            return _load_models(conn, [ref])[0]

    def delete_model(self, name: str) -> None:
        with write_tx(self.engine) as conn:
            ref = _model_ref(conn, name)
            for table in (
                model_version_tags,
                model_versions,
                registered_model_aliases,
                registered_model_tags,
            ):
                conn.execute(delete(table).where(table.c.model_ref == ref))
            conn.execute(delete(registered_models).where(registered_models.c.id == ref))

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        check_tags([(key, value)])
        with write_tx(self.engine) as conn:
            ref = _model_ref(conn, name)
            upsert_values(
                conn,
                registered_model_tags,
                [{"model_ref": ref, "key": key, "value": value}],
                ["model_ref", "key"],
            )

    def delete_model_tag(self, name: str, key: str) -> None:
        with write_tx(self.engine) as conn:
            ref = _model_ref(conn, name)
            gone = conn.execute(
                delete(registered_model_tags).where(
                    registered_model_tags.c.model_ref == ref, registered_model_tags.c.key == key
                )
            ).rowcount
            if not gone:
                raise NotFound(f"No tag with key {key!r} on registered model {name!r}")

    def search_models(
        self,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        _check_max_results(max_results)
        offset = search.decode_page_token(page_token)
        query = (
            select(registered_models.c.id)
            .where(*search.registered_models_where(filter_string))
            .order_by(*search.registered_models_order_by(order_by))
            .limit(max_results + 1)
            .offset(offset)
        )
        with read_tx(self.engine) as conn:
            refs, next_token = search.cut_page(list(conn.execute(query).scalars()), offset, max_results)
            return _load_models(conn, refs), next_token

    def latest_versions(self, name: str, stages: Sequence[str]) -> list[dict[str, Any]]:
        wanted = {STAGES.get(s.lower(), s) for s in stages} if stages else None
        model = self.get_model(name)
        return [v for v in model.get("latest_versions", []) if wanted is None or v["current_stage"] in wanted]

    # -- versions ----------------------------------------------------------------------------
    def create_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: Sequence[tuple[str, str]],
        run_link: str | None,
        description: str | None,
        model_id: str | None,
    ) -> dict[str, Any]:
        if not source:
            raise InvalidArgument("A model version needs a source URI")
        check_tags(tags)
        if not model_id and source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/").split("/")[0]
        now = now_ms()
        with write_tx(self.engine) as conn:
            ref = _model_ref(conn, name)
            storage_location = source
            if model_id:
                logged = conn.execute(
                    select(logged_models.c.artifact_location, logged_models.c.source_run_id).where(
                        logged_models.c.model_id == model_id
                    )
                ).first()
                if logged is None:
                    raise NotFound(f"Logged model with ID '{model_id}' not found.")
                storage_location = logged.artifact_location
                run_id = run_id or logged.source_run_id
            version = conn.execute(
                update(registered_models)
                .where(registered_models.c.id == ref)
                .values(last_version=registered_models.c.last_version + 1, last_updated_time=now)
                .returning(registered_models.c.last_version)
            ).scalar_one()
            conn.execute(
                insert(model_versions).values(
                    model_ref=ref,
                    version=version,
                    creation_time=now,
                    last_updated_time=now,
                    description=description or "",
                    current_stage="None",
                    source=source,
                    run_id=run_id or None,
                    run_link=run_link or "",
                    status="READY",  # files are already in place when the client registers
                    storage_location=storage_location,
                    model_id=model_id,
                )
            )
            if tags:
                conn.execute(
                    insert(model_version_tags),
                    [{"model_ref": ref, "version": version, "key": k, "value": v} for k, v in dict(tags).items()],
                )
            return _load_versions(conn, [(ref, version)])[0]

    def get_version(self, name: str, version: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            return _load_versions(conn, [_version_key(conn, name, version)])[0]

    def update_version(self, name: str, version: str, description: str | None) -> dict[str, Any]:
        with write_tx(self.engine) as conn:
            ref, number = _version_key(conn, name, version)
            values: dict[str, Any] = {"last_updated_time": now_ms()}
            if description is not None:
                values["description"] = description
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_ref == ref, model_versions.c.version == number)
                .values(**values)
            )
            return _load_versions(conn, [(ref, number)])[0]

    def transition_stage(self, name: str, version: str, stage: str, archive_existing: bool) -> dict[str, Any]:
        canonical = STAGES.get((stage or "").lower())
        if canonical is None:
            raise InvalidArgument(f"Invalid stage {stage!r}: use None, Staging, Production or Archived")
        now = now_ms()
        with write_tx(self.engine) as conn:
            ref, number = _version_key(conn, name, version)
            if archive_existing and canonical in ("Staging", "Production"):
                conn.execute(
                    update(model_versions)
                    .where(
                        model_versions.c.model_ref == ref,
                        model_versions.c.version != number,
                        model_versions.c.current_stage == canonical,
                    )
                    .values(current_stage="Archived", last_updated_time=now)
                )
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_ref == ref, model_versions.c.version == number)
                .values(current_stage=canonical, last_updated_time=now)
            )
            return _load_versions(conn, [(ref, number)])[0]

    def delete_version(self, name: str, version: str) -> None:
        with write_tx(self.engine) as conn:
            ref, number = _version_key(conn, name, version)
            conn.execute(
                delete(model_version_tags).where(
                    model_version_tags.c.model_ref == ref, model_version_tags.c.version == number
                )
            )
            conn.execute(
                delete(registered_model_aliases).where(
                    registered_model_aliases.c.model_ref == ref, registered_model_aliases.c.version == number
                )
            )
            conn.execute(
                delete(model_versions).where(model_versions.c.model_ref == ref, model_versions.c.version == number)
            )

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        check_tags([(key, value)])
        with write_tx(self.engine) as conn:
            ref, number = _version_key(conn, name, version)
            upsert_values(
                conn,
                model_version_tags,
                [{"model_ref": ref, "version": number, "key": key, "value": value}],
                ["model_ref", "version", "key"],
            )

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        with write_tx(self.engine) as conn:
            ref, number = _version_key(conn, name, version)
            gone = conn.execute(
                delete(model_version_tags).where(
                    model_version_tags.c.model_ref == ref,
                    model_version_tags.c.version == number,
                    model_version_tags.c.key == key,
                )
            ).rowcount
            if not gone:
                raise NotFound(f"No tag with key {key!r} on model {name!r} version {version}")

    def search_versions(
        self,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        _check_max_results(max_results, limit=200_000)
        offset = search.decode_page_token(page_token)
        query = (
            select(model_versions.c.model_ref, model_versions.c.version)
            .select_from(model_versions.join(registered_models, registered_models.c.id == model_versions.c.model_ref))
            .where(*search.model_versions_where(filter_string))
            .order_by(*search.model_versions_order_by(order_by))
            .limit(max_results + 1)
            .offset(offset)
        )
        with read_tx(self.engine) as conn:
            keys = [(r.model_ref, r.version) for r in conn.execute(query)]
            keys, next_token = search.cut_page(keys, offset, max_results)
            return _load_versions(conn, keys), next_token

    def download_uri(self, name: str, version: str) -> str:
        with read_tx(self.engine) as conn:
            ref, number = _version_key(conn, name, version)
            row = conn.execute(
                select(model_versions.c.storage_location, model_versions.c.source).where(
                    model_versions.c.model_ref == ref, model_versions.c.version == number
                )
            ).one()
        return str(row.storage_location or row.source)

    # -- aliases ---------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> None:
        check_alias(alias)
        with write_tx(self.engine) as conn:
            ref, number = _version_key(conn, name, version)
            upsert_values(
                conn,
                registered_model_aliases,
                [{"model_ref": ref, "alias": alias, "version": number}],
                ["model_ref", "alias"],
            )

    def delete_alias(self, name: str, alias: str) -> None:
        with write_tx(self.engine) as conn:
            ref = _model_ref(conn, name)
            conn.execute(
                delete(registered_model_aliases).where(
                    registered_model_aliases.c.model_ref == ref, registered_model_aliases.c.alias == alias
                )
            )

    def get_by_alias(self, name: str, alias: str) -> dict[str, Any]:
        with read_tx(self.engine) as conn:
            ref = _model_ref(conn, name)
            number = conn.execute(
                select(registered_model_aliases.c.version).where(
                    registered_model_aliases.c.model_ref == ref, registered_model_aliases.c.alias == alias
                )
            ).scalar()
            if number is None:
                raise NotFound(f"Registered model alias {alias} not found for model {name!r}.")
            return _load_versions(conn, [(ref, number)])[0]


def _check_max_results(max_results: int, limit: int = 1000) -> None:
    if not 1 <= max_results <= limit:
        raise InvalidArgument(f"max_results must be between 1 and {limit}, got {max_results}")


def _model_ref(conn: Connection, name: str) -> int:
    check_model_name(name)
    ref = conn.execute(select(registered_models.c.id).where(registered_models.c.name == name)).scalar()
    if ref is None:
        raise NotFound(f"Registered Model with name={name} not found")
    return int(ref)


def _version_key(conn: Connection, name: str, version: str) -> tuple[int, int]:
    number = check_version(version)
    ref = _model_ref(conn, name)
    found = conn.execute(
        select(model_versions.c.version).where(model_versions.c.model_ref == ref, model_versions.c.version == number)
    ).first()
    if found is None:
        raise NotFound(f"Model Version (name={name}, version={version}) not found")
    return ref, number


def _load_versions(conn: Connection, keys: list[tuple[int, int]]) -> list[dict[str, Any]]:
    if not keys:
        return []
    refs = sorted({ref for ref, _ in keys})
    names = dict(
        conn.execute(
            select(registered_models.c.id, registered_models.c.name).where(registered_models.c.id.in_(refs))
        ).all()
    )
    rows = {
        (r["model_ref"], r["version"]): r
        for r in conn.execute(select(model_versions).where(model_versions.c.model_ref.in_(refs))).mappings()
    }
    tags: dict[tuple[int, int], list[dict[str, str]]] = {}
    for t in conn.execute(select(model_version_tags).where(model_version_tags.c.model_ref.in_(refs))).mappings():
        tags.setdefault((t["model_ref"], t["version"]), []).append({"key": t["key"], "value": t["value"]})
    aliases: dict[tuple[int, int], list[str]] = {}
    for a in conn.execute(
        select(registered_model_aliases).where(registered_model_aliases.c.model_ref.in_(refs))
    ).mappings():
        aliases.setdefault((a["model_ref"], a["version"]), []).append(a["alias"])
    result = []
    for key in keys:
        r = rows.get(key)
        if r is None:
            continue
        version: dict[str, Any] = {
            "name": names[key[0]],
            "version": str(key[1]),
            "creation_timestamp": r["creation_time"],
            "last_updated_timestamp": r["last_updated_time"],
            "current_stage": r["current_stage"],
            "description": r["description"],
            "user_id": r["user_id"],
            "source": r["source"],
            "status": r["status"],
            "run_link": r["run_link"],
            "tags": tags.get(key, []),
            "aliases": sorted(aliases.get(key, [])),
        }
        if r["run_id"]:
            version["run_id"] = r["run_id"]
        if r["model_id"]:
            version["model_id"] = r["model_id"]
        result.append(version)
    return result


def _load_models(conn: Connection, refs: list[int]) -> list[dict[str, Any]]:
    if not refs:
        return []
    rows = {
        r["id"]: r for r in conn.execute(select(registered_models).where(registered_models.c.id.in_(refs))).mappings()
    }
    tags: dict[int, list[dict[str, str]]] = {}
    for t in conn.execute(select(registered_model_tags).where(registered_model_tags.c.model_ref.in_(refs))).mappings():
        tags.setdefault(t["model_ref"], []).append({"key": t["key"], "value": t["value"]})
    aliases: dict[int, list[dict[str, str]]] = {}
    for a in conn.execute(
        select(registered_model_aliases)
        .where(registered_model_aliases.c.model_ref.in_(refs))
        .order_by(registered_model_aliases.c.alias)
    ).mappings():
        aliases.setdefault(a["model_ref"], []).append({"alias": a["alias"], "version": str(a["version"])})
    # latest_versions: the newest version in each stage, as MLflow reports it.
    latest: dict[int, dict[str, int]] = {}
    for ref, number, stage in conn.execute(
        select(model_versions.c.model_ref, model_versions.c.version, model_versions.c.current_stage).where(
            model_versions.c.model_ref.in_(refs)
        )
    ):
        stages = latest.setdefault(ref, {})
        stages[stage] = max(stages.get(stage, 0), number)
    latest_rows = _load_versions(conn, [(ref, n) for ref, st in latest.items() for n in st.values()])
    by_ref: dict[str, list[dict[str, Any]]] = {}
    for version in latest_rows:
        by_ref.setdefault(version["name"], []).append(version)
    result = []
    for ref in refs:
        r = rows.get(ref)
        if r is None:
            continue
        model: dict[str, Any] = {
            "name": r["name"],
            "creation_timestamp": r["creation_time"],
            "last_updated_timestamp": r["last_updated_time"],
            "description": r["description"],
            "tags": tags.get(ref, []),
            "aliases": aliases.get(ref, []),
        }
        versions = sorted(by_ref.get(r["name"], []), key=lambda v: int(v["version"]))
        if versions:
            model["latest_versions"] = versions
        result.append(model)
    return result
