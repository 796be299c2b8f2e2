"""Desired state: resources (kind, name, spec) with a generation, and the status controllers report.

``generation`` counts spec changes, as in Kubernetes: an apply that changes nothing leaves it
alone, so controllers (and ``cnai apply``'s "unchanged") can tell real changes from re-applies.
A controller reports ``observed_generation`` with its status, so a reader knows whether the
status already reflects the latest spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson
from sqlalchemy import Engine, Row, delete, insert, select, update

from cnai._clock import now_ms
from cnai.auth.principal import Principal
from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import resources
from cnai.errors import InvalidArgument, NotFound
from cnai.resources.admission import SYSTEM, Admission, AdmissionContext
from cnai.resources.documents import API_VERSION, Document, check_name

SpecValidator = Callable[[dict[str, Any]], dict[str, Any]]
ApplyOutcome = Literal["created", "configured", "unchanged"]


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    api_version: str
    labels: dict[str, str]
    spec: dict[str, Any]
    generation: int
    status: dict[str, Any]
    observed_generation: int
    created_at: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        """The document shape, as ``cnai get -o json`` and the API return it."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": {
                "name": self.name,
                "labels": self.labels,
                "generation": self.generation,
                "creationTimestamp": self.created_at,
                "updateTimestamp": self.updated_at,
            },
            "spec": self.spec,
            "status": {**self.status, "observedGeneration": self.observed_generation},
        }


class ResourceStore:
    """``admissions``: per kind, who may ask for what (see :mod:`cnai.resources.admission`);
    ``context``: the server's opt-ins they read. A kind without one admits any valid spec."""

    def __init__(
        self,
        engine: Engine,
        validators: Mapping[str, SpecValidator],
        *,
        admissions: Mapping[str, Admission] | None = None,
        context: AdmissionContext | None = None,
    ) -> None:
        self.engine = engine
        self.validators = dict(validators)
        self.admissions = dict(admissions or {})
        context = context or AdmissionContext()
        self.context = context if context.stored_spec is not None else replace(context, stored_spec=self._stored_spec)

    @property
    def kinds(self) -> list[str]:
        return sorted(self.validators)

    def validate(self, doc: Document) -> dict[str, Any]:
        validator = self.validators.get(doc.kind)
        if validator is None:
            raise InvalidArgument(f"Unknown kind {doc.kind!r}: this server knows {', '.join(self.kinds) or 'none'}")
        return validator(doc.spec)

    def admit(self, kind: str, spec: dict[str, Any], principal: Principal) -> None:
        """Raise PermissionDenied unless ``principal`` may apply ``spec`` on this server."""
        admission = self.admissions.get(kind)
        if admission is not None:
            admission(spec, principal, self.context)

    def apply(self, doc: Document, *, principal: Principal) -> tuple[Resource, ApplyOutcome]:
        """Create or update ``doc`` on behalf of ``principal``; the spec is validated and admitted
        before anything is written. Admission may resolve host names: call it off the event loop."""
        spec = self.validate(doc)
        # Every apply is admitted, an unchanged one too: re-applying an admin's spec is applying it.
        self.admit(doc.kind, spec, principal)
        now = now_ms()
        with write_tx(self.engine) as conn:
            row = conn.execute(select(resources).where(*_key(doc.kind, doc.name))).first()
            if row is None:
                conn.execute(
                    insert(resources).values(
                        kind=doc.kind,
                        name=doc.name,
                        api_version=doc.api_version,
                        labels=_dump(doc.labels),
                        spec=_dump(spec),
                        generation=1,
                        status=_dump({}),
                        observed_generation=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                outcome: ApplyOutcome = "created"
            elif (spec_changed := orjson.loads(row.spec) != spec) or orjson.loads(row.labels) != doc.labels:
                conn.execute(
                    update(resources)
                    .where(*_key(doc.kind, doc.name))
                    .values(
                        labels=_dump(doc.labels),
                        spec=_dump(spec),
                        generation=resources.c.generation + (1 if spec_changed else 0),
                        updated_at=now,
                    )
                )
                outcome = "configured"
            else:
                outcome = "unchanged"
            return _resource(conn.execute(select(resources).where(*_key(doc.kind, doc.name))).one()), outcome

    def _stored_spec(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(kind, name).spec
        except NotFound:
            return None

    def get(self, kind: str, name: str) -> Resource:
        with read_tx(self.engine) as conn:
            row = conn.execute(select(resources).where(*_key(kind, name))).first()
        if row is None:
            raise NotFound(f"{kind} {name!r} not found")
        return _resource(row)

    def list(self, kind: str) -> list[Resource]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(select(resources).where(resources.c.kind == kind).order_by(resources.c.name)).all()
        return [_resource(row) for row in rows]

    def delete(self, kind: str, name: str) -> Resource:
        with write_tx(self.engine) as conn:
            row = conn.execute(delete(resources).where(*_key(kind, name)).returning(*resources.c)).first()
        if row is None:
            raise NotFound(f"{kind} {name!r} not found")
        return _resource(row)

    def update_spec(self, kind: str, name: str, spec: dict[str, Any]) -> Resource:
        """Replace the spec (promote, rollback, automatic rollback); bumps the generation if it changed.

        Admitted as :data:`~cnai.resources.admission.SYSTEM`: these rewrite a spec a user was
        admitted to apply; the server's opt-ins still hold (a local model needs its flag)."""
        current = self.get(kind, name)
        resource, _ = self.apply(Document(current.api_version, kind, name, spec, current.labels), principal=SYSTEM)
        return resource

    def set_status(self, kind: str, name: str, status: dict[str, Any], observed_generation: int) -> None:
        """Replace the status a controller reports; a resource deleted meanwhile is left deleted."""
        with write_tx(self.engine) as conn:
            conn.execute(
                update(resources)
                .where(*_key(kind, name))
                .values(status=_dump(status), observed_generation=observed_generation)
            )


def resolve_kind(text: str, kinds: list[str]) -> str:
    """``deployment``, ``deployments``, ``deploy`` or ``Deployment`` -> ``Deployment``."""
    wanted = text.strip().lower()
    for kind in kinds:
        lower = kind.lower()
        if wanted in (lower, lower + "s", _SHORT_NAMES.get(lower, lower)):
            return kind
    known = ", ".join(f"{k} ({k.lower()}s)" for k in kinds) or "none"
    raise InvalidArgument(f"Unknown kind {text!r}: this server knows {known}")


_SHORT_NAMES = {"deployment": "deploy", "monitor": "mon"}


def _key(kind: str, name: str) -> tuple[Any, Any]:
    check_name(name, "name")
    return resources.c.kind == kind, resources.c.name == name


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def _resource(row: Row[Any]) -> Resource:
    return Resource(
        kind=row.kind,
        name=row.name,
        api_version=row.api_version or API_VERSION,
        labels=orjson.loads(row.labels),
        spec=orjson.loads(row.spec),
        generation=row.generation,
        status=orjson.loads(row.status),
        observed_generation=row.observed_generation,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
