"""Run comparison: metric curves overlaid, params side by side, a param against a metric.

The page carries the runs' names, params and latest metrics as JSON in a ``<script
type="application/json">`` element (escaped so no value can close it); the curves come from
``/ui/api/history``, one metric for all selected runs per request, when the metric is chosen.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cnai.db.engine import read_tx
from cnai.db.schema import metrics, runs
from cnai.errors import InvalidArgument, NotFound
from cnai.tracking import run_messages
from cnai.tracking.validation import check_run_id
from cnai.ui.components import Html, esc, json_script, link, number, section, short
from cnai.ui.layout import HOME, Page

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

MAX_RUNS = 50
MAX_POINTS = 100_000  # per run and metric: beyond this a chart is a blur anyway


def _wire_float(value: object) -> float | None:
    """Metric values as JSON numbers; NaN and infinities (no JSON for them) become null."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _run_ids(ids: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise InvalidArgument("Choose at least one run to compare (check runs on an experiment's page)")
    if len(wanted) > MAX_RUNS:
        raise InvalidArgument(f"At most {MAX_RUNS} runs can be compared at once, got {len(wanted)}")
    for rid in wanted:
        check_run_id(rid)
    return wanted


def history(plane: ControlPlane, run_ids: list[str], key: str) -> dict[str, Any]:
    """One metric's history for each run: steps, timestamps and values as parallel lists.

    One query for all runs (the comparison asks for ten at once), ordered as ``metric_history``
    orders a run's points; NaN and infinities become null. Unknown runs answer 404.
    """
    if not key:
        raise InvalidArgument("key must be given")
    wanted = _run_ids(run_ids)
    query = (
        select(metrics.c.run_uuid, metrics.c.step, metrics.c.timestamp, metrics.c.value, metrics.c.is_nan)
        .where(metrics.c.run_uuid.in_(wanted), metrics.c.key == key)
        .order_by(metrics.c.run_uuid, metrics.c.step, metrics.c.timestamp, metrics.c.value)
    )
    answer: dict[str, Any] = {rid: {"steps": [], "times": [], "values": []} for rid in wanted}
    with read_tx(plane.engine) as conn:
        known = set(conn.execute(select(runs.c.run_uuid).where(runs.c.run_uuid.in_(wanted))).scalars())
        missing = [rid for rid in wanted if rid not in known]
        if missing:
            raise NotFound(f"Run with id={missing[0]} not found")
        for rid, step, timestamp, value, is_nan in conn.execute(query):
            series = answer[rid]
            if len(series["steps"]) >= MAX_POINTS:
                continue
            series["steps"].append(step)
            series["times"].append(timestamp)
            series["values"].append(None if is_nan else _wire_float(value))
    return {"key": key, "runs": answer}


def compare(plane: ControlPlane, run_ids: list[str]) -> Page:
    wanted = _run_ids(run_ids)
    with read_tx(plane.engine) as conn:
        found = run_messages.load_by_id(conn, wanted)
    if not found:
        raise InvalidArgument("None of the chosen runs exists")
    runs_json = []
    param_keys: set[str] = set()
    metric_keys: set[str] = set()
    for r in found:
        params = {p["key"]: p["value"] for p in r["data"]["params"]}
        metrics = {m["key"]: _wire_float(m["value"]) for m in r["data"]["metrics"]}
        param_keys |= set(params)
        metric_keys |= set(metrics)
        name = r["info"]["run_name"] or r["info"]["run_id"]
        runs_json.append({"id": r["info"]["run_id"], "name": name, "params": params, "metrics": metrics})
    metrics_sorted, params_sorted = sorted(metric_keys), sorted(param_keys)

    def options(keys: list[str], element_id: str, label: str) -> Html:
        opts = "".join(f'<option value="{esc(k)}">{esc(k)}</option>' for k in keys)
        return Html(f'<label for="{element_id}">{esc(label)}</label> <select id="{element_id}">{opts}</select>')

    controls = Html(
        '<div class="toolbar">'
        + options(metrics_sorted, "cmp-metric", "metric")
        + '<label for="cmp-x">x axis</label> <select id="cmp-x"><option value="step">step</option>'
        '<option value="relative">relative time</option><option value="wall">wall time</option></select>'
        '<label><input type="checkbox" id="cmp-log"> log scale</label>'
        '<label for="cmp-smooth">smoothing</label> <input type="range" id="cmp-smooth" min="0" max="0.99" '
        'step="0.01" value="0"> <span id="cmp-smooth-value">0.00</span></div>'
    )
    header = [Html("")] + [link(f"/ui/runs/{r['id']}", r["name"]) for r in runs_json]
    rows: list[tuple[bool, list[object]]] = []
    for key in params_sorted:
        values = [r["params"].get(key) for r in runs_json]
        differs = len({v for v in values}) > 1
        rows.append((differs, [key, *(short(v if v is not None else "-", 60) for v in values)]))
    metric_rows: list[tuple[bool, list[object]]] = []
    for key in metrics_sorted:
        values = [r["metrics"].get(key) for r in runs_json]
        differs = len({v for v in values}) > 1
        metric_rows.append((differs, [key, *(number(v) if v is not None else "-" for v in values)]))

    def side_by_side(items: list[tuple[bool, list[object]]], table_id: str) -> Html:
        th = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = "".join(
            f"<tr{' class=diff' if differs else ''}><th>{esc(cells[0])}</th>"
            + "".join(f"<td>{esc(c)}</td>" for c in cells[1:])
            + "</tr>"
            for differs, cells in items
        )
        if not body:
            body = f'<tr><td colspan="{len(header)}" class="muted">none</td></tr>'
        return Html(
            f'<div class="scroll"><table id="{table_id}" class="kv"><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )

    diff_note = "highlighted: values that differ between the runs"
    scatter_controls = Html(
        '<div class="toolbar">'
        + options(params_sorted, "sc-param", "param (x)")
        + options(metrics_sorted, "sc-metric", "metric (y, latest value)")
        + "</div>"
    )
    body = Html(
        '<div id="compare">'
        + json_script("compare-data", runs_json)
        # The first metric's curves travel with the page: the chart draws without a round trip.
        + (
            json_script("compare-first", history(plane, [r["id"] for r in runs_json], metrics_sorted[0]))
            if metrics_sorted
            else ""
        )
        + section(
            "Metric curves",
            Html(controls + '<div id="compare-chart" class="chart" data-height="360"></div>'),
            note=f"{len(runs_json)} runs",
        )
        + section("Parameters", side_by_side(rows, "params-table"), note=diff_note)
        + section("Latest metrics", side_by_side(metric_rows, "metrics-table"), note=diff_note)
        + section("Param against metric", Html(scatter_controls + '<div id="scatter"></div>'), note="one dot per run")
        + "</div>"
    )
    experiments = sorted({r["info"]["experiment_id"] for r in found})
    crumbs = [HOME, ("/#experiments", "experiments")]
    if len(experiments) == 1:
        crumbs.append((f"/ui/experiments/{experiments[0]}", plane.experiments.get(experiments[0])["name"]))
    return Page(f"Comparing {len(runs_json)} runs", body, crumbs, charts=True)
