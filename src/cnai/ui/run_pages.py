"""The run page, the artifact browsers of runs and logged models, logged model and dataset pages.

A run page links back to its experiment and datasets and forward to the logged models and
registered versions it produced; its metrics are drawn as full charts (``cnai.js`` fetches each
history from ``/ui/api/history``) with the latest values in a table beside them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cnai.ui import artifact_browser, lineage, study_pages
from cnai.ui.components import (
    Html,
    duration,
    esc,
    join,
    lineage_strip,
    link,
    number,
    pairs,
    phase_pill,
    section,
    short,
    table,
    when,
)
from cnai.ui.layout import HOME, Page
from cnai.ui.pages import model_href, unknown_is_missing

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

MAX_CHARTS = 40


def version_link(name: str, version: int) -> Html:
    return link(f"{model_href(name)}/versions/{version}", f"{name} v{version}")


def run(plane: ControlPlane, run_id: str) -> Page:
    found = unknown_is_missing(lambda: plane.runs.get(run_id))
    info, data = found["info"], found["data"]
    exp = plane.experiments.get(info["experiment_id"])
    used = lineage.datasets_of_run(plane, run_id)
    produced = lineage.logged_models_of_run(plane, run_id)
    versions = sorted(
        set(lineage.versions_where(plane, run_id=run_id))
        | {v for m in produced for v in lineage.versions_where(plane, model_id=m["model_id"])}
    )
    metrics = sorted(data["metrics"], key=lambda m: m["key"])
    charts = "".join(
        f'<figure class="chart-box"><h3>{esc(m["key"])}</h3><div class="chart" data-run="{esc(run_id)}" '
        f'data-metric-chart="{esc(m["key"])}" role="img" aria-label="history of {esc(m["key"])}"></div></figure>'
        for m in metrics[:MAX_CHARTS]
    )
    metric_rows = [[m["key"], number(m["value"], 6), m["step"], when(m["timestamp"])] for m in metrics]
    params = sorted((p["key"], short(p["value"])) for p in data["params"])
    tags = sorted((t["key"], t["value"]) for t in data["tags"])
    user_tags = [(k, short(v)) for k, v in tags if not k.startswith("mlflow.")]
    system_tags = [(k, short(v)) for k, v in tags if k.startswith("mlflow.")]
    strip = lineage_strip(
        [
            join((link(f"/ui/datasets/{d['dataset_uuid']}", f"dataset {d['name']}") for d in used), ", ")
            or Html('<span class="muted">no datasets</span>'),
            Html(f"<b>run {esc(info['run_name'] or run_id)}</b>"),
            join((link(f"/ui/logged-models/{m['model_id']}", f"model {m['name']}") for m in produced), ", ")
            or Html('<span class="muted">no logged models</span>'),
            join((version_link(n, v) for n, v in versions), ", ") or Html('<span class="muted">no versions</span>'),
        ]
    )
    study = study_pages.study_link(found)
    overview = pairs(
        {
            "run id": info["run_id"],
            "experiment": link(f"/ui/experiments/{exp['experiment_id']}", exp["name"]),
            **({"tuning": study} if study else {}),
            "status": phase_pill(info["status"]),
            "started": when(info["start_time"]),
            "duration": duration(info["start_time"], info.get("end_time")),
            "user": info.get("user_id") or "-",
            "artifact uri": info["artifact_uri"],
        }
    )
    dataset_rows = [
        [
            link(f"/ui/datasets/{d['dataset_uuid']}", d["name"]),
            d["digest"],
            d["source_type"],
            short(d["source"], 80),
            ", ".join(f"{t['key']}={t['value']}" for t in json.loads(d["tags"] or "[]")),
        ]
        for d in used
    ]
    model_rows = [
        [
            link(f"/ui/logged-models/{m['model_id']}", m["name"]),
            m["model_id"],
            phase_pill(m["status"]),
            when(m["creation_timestamp_ms"]),
            join((version_link(n, v) for n, v in lineage.versions_where(plane, model_id=m["model_id"])), ", "),
        ]
        for m in produced
    ]
    tree = artifact_browser.tree_of(info["artifact_uri"], f"/ui/runs/{run_id}/artifacts")
    artifacts = (
        artifact_browser.listing(plane.artifacts, tree)
        if tree
        else Html(f'<p class="muted">stored outside this control plane: {esc(info["artifact_uri"])}</p>')
    )
    body = join(
        [
            strip,
            overview,
            section(
                "Metric charts",
                Html(f'<div class="charts">{charts}</div>') if charts else Html('<p class="muted">no metrics</p>'),
                note=f"first {MAX_CHARTS} metrics" if len(metrics) > MAX_CHARTS else "hover for values",
            ),
            Html('<div class="grid">'),
            section("Latest metric values", table(["key", "latest", "step", "logged"], metric_rows, numeric=[1, 2])),
            section("Parameters", pairs(params, empty="no params")),
            Html("</div>"),
            section("Datasets", table(["name", "digest", "source type", "source", "tags"], dataset_rows)),
            section(
                "Logged models",
                table(["name", "model id", "status", "created", "registered as"], model_rows, empty="none"),
            ),
            section(
                "Registered model versions",
                Html("<ul>" + "".join(f"<li>{version_link(n, v)}</li>" for n, v in versions) + "</ul>")
                if versions
                else Html('<p class="muted">none</p>'),
            ),
            section("Artifacts", artifacts, anchor="artifacts"),
            Html('<div class="grid">'),
            section("Tags", pairs(user_tags, empty="no tags")),
            section("System tags", pairs(system_tags, empty="none")),
            Html("</div>"),
        ]
    )
    crumbs = [HOME, ("/#experiments", "experiments"), (f"/ui/experiments/{exp['experiment_id']}", exp["name"])]
    return Page(info["run_name"] or info["run_id"], body, crumbs, charts=True)


def _browse(plane: ControlPlane, tree: artifact_browser.Tree, query: Any) -> Html:
    if query.get("file"):
        return artifact_browser.preview(plane.artifacts, tree, query["file"])
    return artifact_browser.listing(plane.artifacts, tree, query.get("path", ""))


def run_artifacts(plane: ControlPlane, run_id: str, query: Any) -> Page:
    found = unknown_is_missing(lambda: plane.runs.get(run_id))
    info = found["info"]
    tree = artifact_browser.tree_of(info["artifact_uri"], f"/ui/runs/{run_id}/artifacts")
    if tree is None:
        body = Html(f'<p class="muted">stored outside this control plane: {esc(info["artifact_uri"])}</p>')
    else:
        body = _browse(plane, tree, query)
    where = query.get("file") or query.get("path") or "/"
    crumbs = [
        HOME,
        (f"/ui/experiments/{info['experiment_id']}", "experiment"),
        (f"/ui/runs/{run_id}", info["run_name"] or run_id),
    ]
    return Page(f"Artifacts: {where}", body, crumbs)


def logged_model(plane: ControlPlane, model_id: str) -> Page:
    found = unknown_is_missing(lambda: plane.logged_models.get(model_id))
    info, data = found["info"], found["data"]
    run_id = info.get("source_run_id")
    versions = lineage.versions_where(plane, model_id=model_id)
    tree = artifact_browser.tree_of(info["artifact_uri"], f"/ui/logged-models/{model_id}/artifacts")
    strip = lineage_strip(
        [
            link(f"/ui/runs/{run_id}", f"run {run_id[:12]}") if run_id else Html('<span class="muted">no run</span>'),
            Html(f"<b>logged model {esc(info['name'])}</b>"),
            join((version_link(n, v) for n, v in versions), ", ") or Html('<span class="muted">not registered</span>'),
        ]
    )
    metric_rows = [
        [
            m["key"],
            number(m["value"], 6),
            m["step"],
            m.get("dataset_name", "-"),
            link(f"/ui/runs/{m['run_id']}", m["run_id"][:12]),
        ]
        for m in data["metrics"]
    ]
    body = join(
        [
            strip,
            pairs(
                {
                    "model id": model_id,
                    "status": phase_pill(info["status"]),
                    "type": info.get("model_type") or "-",
                    "created": when(info["creation_timestamp_ms"]),
                    "experiment": link(f"/ui/experiments/{info['experiment_id']}", info["experiment_id"]),
                    "artifact uri": info["artifact_uri"],
                    **{t["key"]: short(t["value"]) for t in info["tags"] if not t["key"].startswith("mlflow.")},
                }
            ),
            Html('<div class="grid">'),
            section("Parameters", pairs(sorted((p["key"], short(p["value"])) for p in data["params"]), empty="none")),
            section("Metrics", table(["key", "value", "step", "dataset", "run"], metric_rows, numeric=[1, 2])),
            Html("</div>"),
            section(
                "Artifacts",
                artifact_browser.listing(plane.artifacts, tree)
                if tree
                else Html(f"<p>{esc(info['artifact_uri'])}</p>"),
                anchor="artifacts",
            ),
        ]
    )
    crumbs = [HOME, (f"/ui/experiments/{info['experiment_id']}", "experiment")]
    if run_id:
        crumbs.append((f"/ui/runs/{run_id}", "run"))
    return Page(info["name"], body, crumbs)


def logged_model_artifacts(plane: ControlPlane, model_id: str, query: Any) -> Page:
    found = unknown_is_missing(lambda: plane.logged_models.get(model_id))
    info = found["info"]
    tree = artifact_browser.tree_of(info["artifact_uri"], f"/ui/logged-models/{model_id}/artifacts")
    body = _browse(plane, tree, query) if tree else Html(f"<p>{esc(info['artifact_uri'])}</p>")
    where = query.get("file") or query.get("path") or "/"
    return Page(f"Artifacts: {where}", body, [HOME, (f"/ui/logged-models/{model_id}", info["name"])])


def dataset(plane: ControlPlane, dataset_uuid: str) -> Page:
    found, used = lineage.dataset(plane, dataset_uuid)
    rows = [
        [
            link(f"/ui/runs/{r['run_uuid']}", r["name"] or r["run_uuid"]),
            phase_pill(r["status"]),
            when(r["start_time"]),
            ", ".join(f"{t['key']}={t['value']}" for t in json.loads(r["tags"] or "[]")),
        ]
        for r in used
    ]
    schema = found.get("schema")
    body = join(
        [
            pairs(
                {
                    "digest": found["digest"],
                    "source type": found["source_type"],
                    "source": short(found["source"], 200),
                    "experiment": link(f"/ui/experiments/{found['experiment_id']}", found["experiment_id"]),
                }
            ),
            section("Runs that used it", table(["run", "status", "started", "context"], rows, empty="none")),
            section("Schema", Html(f"<pre>{esc(schema)}</pre>") if schema else Html('<p class="muted">none</p>')),
        ]
    )
    return Page(f"Dataset {found['name']}", body, [HOME, (f"/ui/experiments/{found['experiment_id']}", "experiment")])
