"""Who links to whom across the lifecycle, both ways:

dataset → run → logged model → model version → deployments serving it → monitors watching them
→ alerts. Each function answers one hop from the stores; the pages draw the links.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cnai.db.engine import read_tx
from cnai.db.schema import datasets, logged_models, model_versions, registered_models, run_inputs, run_outputs, runs
from cnai.errors import NotFound

if TYPE_CHECKING:
    from cnai.resources import Resource
    from cnai.server.app import ControlPlane

MONITOR = "Monitor"
_URI = re.compile(r"^models:/(?P<name>.+?)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))/?$")


def datasets_of_run(plane: ControlPlane, run_id: str) -> list[dict[str, Any]]:
    query = (
        select(datasets, run_inputs.c.tags)
        .select_from(run_inputs.join(datasets, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid))
        .where(run_inputs.c.run_uuid == run_id)
        .order_by(datasets.c.name)
    )
    with read_tx(plane.engine) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def dataset(plane: ControlPlane, dataset_uuid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A dataset and the runs that used it (newest first)."""
    with read_tx(plane.engine) as conn:
        found = conn.execute(select(datasets).where(datasets.c.dataset_uuid == dataset_uuid)).mappings().first()
        if found is None:
            raise NotFound(f"Dataset {dataset_uuid} not found")
        used = conn.execute(
            select(runs.c.run_uuid, runs.c.name, runs.c.status, runs.c.start_time, run_inputs.c.tags)
            .select_from(run_inputs.join(runs, runs.c.run_uuid == run_inputs.c.run_uuid))
            .where(run_inputs.c.dataset_uuid == dataset_uuid, runs.c.lifecycle_stage == "active")
            .order_by(runs.c.start_time.desc())
            .limit(500)
        ).mappings()
        return dict(found), [dict(r) for r in used]


def logged_models_of_run(plane: ControlPlane, run_id: str) -> list[dict[str, Any]]:
    """Logged models the run produced (``source_run_id``) or logged as outputs."""
    with read_tx(plane.engine) as conn:
        outputs = select(run_outputs.c.model_id).where(run_outputs.c.run_uuid == run_id)
        rows = conn.execute(
            select(logged_models)
            .where(
                (logged_models.c.source_run_id == run_id) | logged_models.c.model_id.in_(outputs),
                logged_models.c.lifecycle_stage == "active",
            )
            .order_by(logged_models.c.creation_timestamp_ms)
        ).mappings()
        return [dict(r) for r in rows]


def versions_where(
    plane: ControlPlane, *, run_id: str | None = None, model_id: str | None = None
) -> list[tuple[str, int]]:
    """(model name, version) of the versions registered from a run or from a logged model."""
    column = model_versions.c.run_id if run_id is not None else model_versions.c.model_id
    wanted = run_id if run_id is not None else model_id
    query = (
        select(registered_models.c.name, model_versions.c.version)
        .select_from(model_versions.join(registered_models, registered_models.c.id == model_versions.c.model_ref))
        .where(column == wanted)
        .order_by(registered_models.c.name, model_versions.c.version)
    )
    with read_tx(plane.engine) as conn:
        return [(r.name, int(r.version)) for r in conn.execute(query)]


def served_version(plane: ControlPlane, uri: object) -> tuple[str, int] | None:
    """The (name, version) a ``models:/`` URI points at now; aliases are resolved."""
    if not isinstance(uri, str):
        return None
    m = _URI.match(uri)
    if m is None:
        return None
    name = m.group("name")
    if m.group("version"):
        return name, int(m.group("version"))
    try:
        return name, int(plane.registry.get_by_alias(name, m.group("alias"))["version"])
    except NotFound:
        return None


def deployment_targets(plane: ControlPlane, d: Resource) -> dict[str, tuple[str, int] | None]:
    """What each target of a deployment serves: 'primary' and, when there is one, 'canary'.

    The controller's status (what it resolved and loaded) wins over the spec (what is asked).
    """
    status_model = d.status.get("model") or {}
    primary = served_version(plane, status_model.get("resolved")) or served_version(plane, d.spec.get("model"))
    targets: dict[str, tuple[str, int] | None] = {"primary": primary}
    canary = d.spec.get("canary") or {}
    if canary:
        targets["canary"] = served_version(plane, canary.get("model"))
    return targets


def deployments_serving(plane: ControlPlane, name: str, version: int | None = None) -> list[tuple[Resource, str]]:
    """Deployments whose primary or canary serves ``name`` (at ``version``, when given), with the target."""
    found = []
    for d in plane.resources.list("Deployment"):
        for target, served in deployment_targets(plane, d).items():
            if served and served[0] == name and (version is None or served[1] == version):
                found.append((d, target))
    return found


def _named(value: object) -> tuple[str | None, str | None]:
    """A monitor target's ``deployment``/``model`` entry: a name, or {name, version}."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        version = value.get("version")
        return value["name"], str(version) if version is not None else None
    return None, None


def monitor_deployment(m: Resource) -> str | None:
    """The deployment a monitor watches, or None when it watches a model."""
    return _named((m.spec.get("target") or {}).get("deployment"))[0]


def monitor_model(m: Resource) -> tuple[str, str | None] | None:
    """The registered model (and version, when pinned) a monitor watches, or None when it watches a deployment."""
    name, version = _named((m.spec.get("target") or {}).get("model"))
    return (name, version) if name else None


def monitors_watching(plane: ControlPlane, deployment: str) -> list[Resource]:
    if MONITOR not in plane.resources.kinds:
        return []
    return [m for m in plane.resources.list(MONITOR) if monitor_deployment(m) == deployment]


def monitors_of_model(plane: ControlPlane, name: str, version: int) -> list[Resource]:
    """Monitors whose target is the model itself (all versions, or this one)."""
    if MONITOR not in plane.resources.kinds:
        return []
    found = []
    for m in plane.resources.list(MONITOR):
        model, wanted = _named((m.spec.get("target") or {}).get("model"))
        if model == name and (wanted is None or wanted == str(version)):
            found.append(m)
    return found
