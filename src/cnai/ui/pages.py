"""The overview and the registered model page (runs: runs_list, run_pages; versions: registry_pages).

Each page function takes the control plane and its path/query arguments and returns the HTML
body; a missing object raises :class:`cnai.errors.NotFound` and bad input
:class:`cnai.errors.InvalidArgument`, which the routes turn into 404 and 400 pages. They read
the stores directly (in-process, no HTTP round trip) and are run off the event loop.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import func, select

from cnai.db.engine import read_tx
from cnai.db.schema import runs
from cnai.errors import InvalidArgument, NotFound
from cnai.ui import ops_pages
from cnai.ui.components import (
    Html,
    esc,
    join,
    link,
    pairs,
    phase_pill,
    pill,
    section,
    short,
    table,
    truncated_note,
    when,
)
from cnai.ui.layout import HOME, Page

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

ROWS = 100  # rows per list: the newest ones, with a note when there are more
MAX_COLUMNS = 12  # params and metrics shown as columns of the runs table, each
MAX_SPARKLINES = 50
SPARK_POINTS = 1000
MAX_ARTIFACTS = 200
ONE_VALUE = Html('<span class="muted">one value</span>')
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def overview(plane: ControlPlane) -> Page:
    exps, more_exps = plane.experiments.search("ACTIVE_ONLY", None, ["last_update_time DESC"], ROWS, None)
    counts = _run_counts(plane, [int(e["experiment_id"]) for e in exps])
    exp_rows = []
    for e in exps:
        n, last_run = counts.get(int(e["experiment_id"]), (0, None))
        last = max(e.get("last_update_time") or 0, last_run or 0)
        exp_rows.append([link(f"/ui/experiments/{e['experiment_id']}", e["name"]), n, when(last)])
    models, more_models = plane.registry.search_models(None, ROWS, ["last_updated_timestamp DESC"], None)
    model_rows = []
    for m in models:
        versions = [int(v["version"]) for v in m.get("latest_versions", [])]
        aliases = join((pill(f"@{a['alias']} → v{a['version']}") for a in m.get("aliases", [])), " ")
        latest = f"v{max(versions)}" if versions else "-"
        model_rows.append([link(model_href(m["name"]), m["name"]), latest, aliases, when(m["last_updated_timestamp"])])
    deployments = ops_pages.deployments_table(plane)
    monitors = ops_pages.monitors_table(plane)
    cards = Html(
        '<div class="cards">'
        + "".join(
            f'<div class="card"><a href="#{anchor}"><b>{n}{"+" if more else ""}</b>{esc(label)}</a></div>'
            for anchor, n, more, label in (
                ("experiments", len(exps), more_exps, "experiments"),
                ("models", len(models), more_models, "registered models"),
                ("deployments", deployments.count, False, "deployments"),
                ("monitors", monitors.count, False, "monitors"),
            )
        )
        + "</div>"
    )
    body = join(
        [
            cards,
            section(
                "Experiments",
                table(["name", "runs", "last activity"], exp_rows, empty="no experiments", numeric=[1]),
                anchor="experiments",
                note=truncated_note(len(exps), more_exps is not None, "experiments"),
            ),
            section(
                "Registered models",
                table(["name", "latest version", "aliases", "updated"], model_rows, empty="no registered models"),
                anchor="models",
                note=truncated_note(len(models), more_models is not None, "models"),
            ),
            section("Deployments", deployments.html, anchor="deployments", note=deployments.note),
            section("Monitors", monitors.html, anchor="monitors", note=monitors.note),
        ]
    )
    return Page("Overview", body)


def model_href(name: str) -> str:
    # Registered model names are free text: quoted, '/' included (the route takes a path).
    return "/ui/models/" + quote(name, safe="")


def _run_counts(plane: ControlPlane, ids: list[int]) -> dict[int, tuple[int, int | None]]:
    """Active runs per experiment and the newest run's start: one grouped query for the page."""
    if not ids:
        return {}
    query = (
        select(runs.c.experiment_id, func.count(), func.max(runs.c.start_time))
        .where(runs.c.experiment_id.in_(ids), runs.c.lifecycle_stage == "active")
        .group_by(runs.c.experiment_id)
    )
    with read_tx(plane.engine) as conn:
        return {int(e): (int(n), last) for e, n, last in conn.execute(query)}


# -- registered model --------------------------------------------------------------------------------


def model(plane: ControlPlane, name: str) -> Page:
    found = unknown_is_missing(lambda: plane.registry.get_model(name))
    quoted = name.replace("'", "''")
    versions, more = plane.registry.search_versions(f"name = '{quoted}'", ROWS, ["version_number DESC"], None)
    rows = []
    for v in versions:
        run_id = v.get("run_id")
        rows.append(
            [
                link(f"{model_href(name)}/versions/{v['version']}", f"v{v['version']}"),
                join((pill(f"@{a}", "ok") for a in v["aliases"]), " "),
                phase_pill(v["status"]),
                when(v["creation_timestamp"]),
                link(f"/ui/runs/{run_id}", run_id[:12]) if run_id else "-",
                short(v["source"], 70),
                join((f"{t['key']}={t['value']}" for t in v["tags"]), ", "),
            ]
        )
    used_by = [
        [link(f"/ui/deployments/{d.name}", d.name), d.spec.get("model", "")]
        for d in plane.resources.list("Deployment")
        if _refers_to(d.spec, name)
    ]
    body = join(
        [
            pairs(
                {
                    "description": found.get("description") or "-",
                    "aliases": join((pill(f"@{a['alias']} → v{a['version']}") for a in found["aliases"]), " ") or "-",
                    "updated": when(found["last_updated_timestamp"]),
                    **{t["key"]: short(t["value"]) for t in found["tags"]},
                }
            ),
            section(
                "Versions",
                table(["version", "aliases", "status", "created", "run", "source", "tags"], rows, empty="no versions"),
                note=truncated_note(len(versions), more is not None, "versions"),
            ),
            section("Deployments serving it", table(["deployment", "model"], used_by, empty="none")),
        ]
    )
    return Page(name, body, [HOME, ("/#models", "models")])


def _refers_to(spec: dict[str, Any], name: str) -> bool:
    uris = [spec.get("model"), (spec.get("canary") or {}).get("model")]
    return any(isinstance(u, str) and re.match(rf"^models:/{re.escape(name)}[/@]", u) for u in uris)


def unknown_is_missing(load: Any) -> dict[str, Any]:
    """An id that cannot exist (not a number, not a run id) is as unknown as a missing one."""
    try:
        result: dict[str, Any] = load()
    except InvalidArgument as exc:
        raise NotFound(str(exc)) from None
    return result
