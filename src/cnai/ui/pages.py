"""The tracking and registry pages: overview, experiment, run, registered model.

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
    duration,
    esc,
    join,
    link,
    number,
    pairs,
    phase_pill,
    pill,
    scroll,
    section,
    short,
    sparkline,
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


# -- experiment ----------------------------------------------------------------------------------


def experiment(plane: ControlPlane, experiment_id: str, order_by: str | None) -> Page:
    exp = _unknown_is_missing(lambda: plane.experiments.get(experiment_id))
    found, more = plane.runs.search([exp["experiment_id"]], None, "ACTIVE_ONLY", ROWS, _order(order_by), None)
    param_keys = sorted({p["key"] for r in found for p in r["data"]["params"]})
    metric_keys = sorted({m["key"] for r in found for m in r["data"]["metrics"]})
    shown_params, shown_metrics = param_keys[:MAX_COLUMNS], metric_keys[:MAX_COLUMNS]
    base = f"/ui/experiments/{exp['experiment_id']}"

    def sort_header(label: str, field: str) -> Html:
        desc, asc = f"{field} DESC", f"{field} ASC"
        target, arrow = (asc, " ▼") if order_by == desc else (desc, " ▲" if order_by == asc else "")
        return link(f"{base}?order_by={quote(target, safe='')}", label + arrow)

    headers: list[object] = [
        sort_header("run", "attributes.run_name"),
        "status",
        sort_header("start", "attributes.start_time"),
        "duration",
    ]
    headers += [sort_header(k, f"params.{_key(k)}") for k in shown_params]
    headers += [sort_header(k, f"metrics.{_key(k)}") for k in shown_metrics]
    rows = []
    for r in found:
        info, data = r["info"], r["data"]
        params = {p["key"]: p["value"] for p in data["params"]}
        metrics = {m["key"]: m["value"] for m in data["metrics"]}
        rows.append(
            [
                link(f"/ui/runs/{info['run_id']}", info["run_name"] or info["run_id"]),
                phase_pill(info["status"]),
                when(info["start_time"]),
                duration(info["start_time"], info.get("end_time")),
                *(short(params.get(k, ""), 40) for k in shown_params),
                *(number(metrics[k]) if k in metrics else "" for k in shown_metrics),
            ]
        )
    first_metric = 4 + len(shown_params)
    hidden = [
        f"{len(keys) - MAX_COLUMNS} more {what}"
        for keys, what in ((param_keys, "params"), (metric_keys, "metrics"))
        if len(keys) > MAX_COLUMNS
    ]
    notes = [truncated_note(len(found), more is not None, "runs"), *hidden]
    sorted_by = Html(f'<p class="muted small">sorted by <code>{esc(order_by)}</code></p>') if order_by else Html("")
    runs_table = table(
        headers,
        rows,
        empty="no runs",
        numeric=list(range(first_metric, first_metric + len(shown_metrics))),
        groups=[("", 4), ("params", len(shown_params)), ("metrics", len(shown_metrics))],
    )
    body = join(
        [
            pairs(
                {
                    "id": exp["experiment_id"],
                    "artifact location": exp["artifact_location"],
                    "created": when(exp["creation_time"]),
                    **{t["key"]: short(t["value"]) for t in exp["tags"]},
                }
            ),
            section("Runs", join([sorted_by, scroll(runs_table)]), note="; ".join(n for n in notes if n)),
        ]
    )
    return Page(exp["name"], body, [HOME, ("/#experiments", "experiments")])


def _order(order_by: str | None) -> list[str] | None:
    if order_by is None or not order_by.strip():
        return None
    return [order_by]


def _key(key: str) -> str:
    """A key as the search grammar wants it: bare when simple, else backtick- or double-quoted."""
    if _SIMPLE_KEY.match(key):
        return key
    if "`" not in key:
        return f"`{key}`"
    return '"' + key.replace('"', '""') + '"'


# -- run -------------------------------------------------------------------------------------------


def run(plane: ControlPlane, run_id: str) -> Page:
    found = _unknown_is_missing(lambda: plane.runs.get(run_id))
    info, data = found["info"], found["data"]
    exp = plane.experiments.get(info["experiment_id"])
    metric_rows = []
    for i, m in enumerate(sorted(data["metrics"], key=lambda m: m["key"])):
        spark = Html("")
        if i < MAX_SPARKLINES:
            history, _ = plane.runs.metric_history(run_id, m["key"], SPARK_POINTS, None)
            spark = (
                sparkline([p["value"] for p in history])
                if len(history) > 1
                else Html('<span class="muted">one value</span>')
            )
        metric_rows.append([m["key"], number(m["value"], 6), m["step"], spark])
    params = sorted((p["key"], short(p["value"])) for p in data["params"])
    tags = sorted((t["key"], t["value"]) for t in data["tags"])
    user_tags = [(k, short(v)) for k, v in tags if not k.startswith("mlflow.")]
    system_tags = [(k, short(v)) for k, v in tags if k.startswith("mlflow.")]
    overview = pairs(
        {
            "run id": info["run_id"],
            "experiment": link(f"/ui/experiments/{exp['experiment_id']}", exp["name"]),
            "status": phase_pill(info["status"]),
            "started": when(info["start_time"]),
            "duration": duration(info["start_time"], info.get("end_time")),
            "user": info.get("user_id") or "-",
            "artifact uri": info["artifact_uri"],
        }
    )
    body = join(
        [
            overview,
            Html('<div class="grid">'),
            section(
                "Metrics",
                table(["key", "latest", "step", "history"], metric_rows, empty="no metrics", numeric=[1, 2]),
                note="history of the first 50 metrics" if len(metric_rows) > MAX_SPARKLINES else "",
            ),
            section("Parameters", pairs(params, empty="no params")),
            Html("</div>"),
            section("Tags", pairs(user_tags, empty="no tags")),
            section("System tags", pairs(system_tags, empty="none")),
            section("Artifacts", _artifacts(plane, info["artifact_uri"])),
        ]
    )
    crumbs = [HOME, ("/#experiments", "experiments"), (f"/ui/experiments/{exp['experiment_id']}", exp["name"])]
    return Page(info["run_name"] or info["run_id"], body, crumbs)


def _artifacts(plane: ControlPlane, artifact_uri: str) -> Html:
    """The run's artifact tree when it is served through this plane's proxy (the default)."""
    prefix = "mlflow-artifacts:/"
    if not artifact_uri.startswith(prefix):
        return Html(f'<p class="muted">stored outside this control plane: {esc(artifact_uri)}</p>')
    root = artifact_uri[len(prefix) :].strip("/")
    rows: list[tuple[str, object, object]] = []
    pending = [(root, 0)]
    while pending and len(rows) < MAX_ARTIFACTS:
        path, depth = pending.pop(0)
        for f in plane.artifacts.list(path):
            relative = f.path[len(root) :].lstrip("/")
            if f.is_dir:
                rows.append((relative + "/", relative + "/", ""))
                if depth < 3:
                    pending.append((f.path, depth + 1))
            else:
                href = f"/api/2.0/mlflow-artifacts/artifacts/{f.path}"
                rows.append((relative, link(href, relative), f.file_size if f.file_size is not None else ""))
            if len(rows) >= MAX_ARTIFACTS:
                break
    rows.sort(key=lambda r: r[0])
    note = Html(f'<p class="muted small">first {MAX_ARTIFACTS} entries</p>') if len(rows) >= MAX_ARTIFACTS else ""
    return join([table(["path", "bytes"], [r[1:] for r in rows], empty="no artifacts", numeric=[1]), note])


# -- registered model --------------------------------------------------------------------------------


def model(plane: ControlPlane, name: str) -> Page:
    found = _unknown_is_missing(lambda: plane.registry.get_model(name))
    quoted = name.replace("'", "''")
    versions, more = plane.registry.search_versions(f"name = '{quoted}'", ROWS, ["version_number DESC"], None)
    rows = []
    for v in versions:
        run_id = v.get("run_id")
        rows.append(
            [
                f"v{v['version']}",
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


def _unknown_is_missing(load: Any) -> dict[str, Any]:
    """An id that cannot exist (not a number, not a run id) is as unknown as a missing one."""
    try:
        result: dict[str, Any] = load()
    except InvalidArgument as exc:
        raise NotFound(str(exc)) from None
    return result
