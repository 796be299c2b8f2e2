"""The deployment and monitor pages, and their tables on the overview.

They show what the resources store holds: the spec as applied and the status the controllers
report (``cnai describe`` in a browser), plus a monitor's stored windows and action deliveries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import yaml

from cnai.errors import InvalidArgument, NotFound
from cnai.ui import deploy_activity, lineage
from cnai.ui.components import (
    Html,
    esc,
    join,
    json_script,
    link,
    number,
    pairs,
    phase_pill,
    pill,
    scroll,
    section,
    short,
    span_of,
    table,
    tag,
    when,
)
from cnai.ui.layout import HOME, Page

if TYPE_CHECKING:
    from cnai.resources import Resource
    from cnai.server.app import ControlPlane

ROWS = 100
WINDOWS = 50
ACTIONS = 50
MONITOR = "Monitor"
WINDOW_COLUMNS = ["window", "time", "rows", "drift share", "verdict", "drifted features", "performance", "error"]


@dataclass(frozen=True)
class Listing:
    count: int
    html: Html
    note: str


def _newest(items: list[Resource]) -> tuple[list[Resource], str]:
    items = sorted(items, key=lambda r: r.updated_at, reverse=True)
    note = f"showing the {ROWS} most recently updated of {len(items)}" if len(items) > ROWS else ""
    return items[:ROWS], note


def _url(status: dict[str, Any]) -> object:
    url = status.get("url")
    return link(url, url) if isinstance(url, str) and url.startswith(("http://", "https://")) else "-"


def _percent(spec: dict[str, Any], target: str) -> float:
    canary = float((spec.get("canary") or {}).get("percent", 0) or 0)
    return canary if target == "canary" else 100.0 - canary


def _split(spec: dict[str, Any]) -> Html:
    """The traffic split as one bar: primary and canary shares side by side."""
    canary = _percent(spec, "canary")
    if not canary:
        return Html("")
    return Html(
        f'<div class="split" role="img" aria-label="primary {100 - canary:g}%, canary {canary:g}%">'
        f'<span style="width:{100 - canary:.2f}%">primary {100 - canary:g}%</span>'
        f'<span class="canary" style="width:{canary:.2f}%">canary {canary:g}%</span></div>'
    )


def _model(spec: dict[str, Any], status: dict[str, Any]) -> str:
    version = (status.get("model") or {}).get("version")
    return str(spec.get("model", "-")) + (f" (v{version})" if version else "")


def _canary(spec: dict[str, Any]) -> str:
    canary = spec.get("canary")
    return f"{canary.get('model')} at {canary.get('percent', 0):g}%" if canary else "-"


def deployments_table(plane: ControlPlane) -> Listing:
    found = plane.resources.list("Deployment")
    shown, note = _newest(found)
    rows = []
    for d in shown:
        replicas = d.status.get("replicas") or {}
        rows.append(
            [
                link(f"/ui/deployments/{d.name}", d.name),
                phase_pill(d.status.get("phase")),
                f"{replicas.get('ready', 0)}/{replicas.get('desired', '-')}",
                _model(d.spec, d.status),
                _canary(d.spec),
                _url(d.status),
            ]
        )
    headers = ["name", "phase", "ready", "model", "canary", "router"]
    return Listing(len(found), table(headers, rows, empty="no deployments"), note)


def monitors_table(plane: ControlPlane) -> Listing:
    if MONITOR not in plane.resources.kinds:
        return Listing(0, Html('<p class="muted">monitors need the [monitoring] extra</p>'), "")
    found = plane.resources.list(MONITOR)
    shown, note = _newest(found)
    rows = []
    for m in shown:
        last = m.status.get("lastWindow") or {}
        rows.append(
            [
                link(f"/ui/monitors/{m.name}", m.name),
                phase_pill(m.status.get("phase")),
                m.status.get("windows", 0),
                m.status.get("breaches", 0),
                _drift_share(m.spec, last.get("driftShare")) if last else "-",
                _verdict(last) if last else "-",
            ]
        )
    headers = ["name", "phase", "windows", "breaches", "last drift share", "last verdict"]
    return Listing(len(found), table(headers, rows, empty="no monitors", numeric=[2, 3, 4]), note)


NO_DRIFT_TEST = "no drift test"


def _drift_share(spec: dict[str, Any], share: object) -> object:
    """A window's share of drifted features; a monitor without a reference compares no feature,
    and its 0 would read as "no drift" where nothing was tested."""
    if spec.get("reference") is None:
        return tag("span", NO_DRIFT_TEST, "muted", title="no reference: features are not compared")
    return number(share, 3)


def _verdict(window: dict[str, Any]) -> Html:
    """What a window concluded: drift, a service, prompt or performance breach, an error, or ok."""
    drift = window.get("datasetDrift", window.get("dataset_drift"))
    failed = (window.get("performance") or {}).get("breached") or []
    service = (window.get("service") or {}).get("breached") or []
    prompts = (window.get("promptDrift", window.get("prompt_drift")) or {}).get("drifted")
    if window.get("error"):
        return pill("error", "bad")
    reasons = (["drift"] if drift else []) + [str(f) for f in [*service, *failed]]
    reasons += ["prompt drift"] if prompts else []
    if window.get("breached"):
        return pill(" + ".join(reasons) or "breached", "bad")
    return pill(" + ".join(reasons), "warn") if reasons else pill("ok", "ok")


def _prompt_drift(result: dict[str, Any] | None) -> object:
    """tests.promptDrift of one window: 'model 0.344 / 0.708 ok', or why there is no score."""
    if not result:
        return "-"
    if result.get("error"):
        return join([pill("error", "bad"), " ", short(str(result["error"]), 120)])
    if "score" not in result:
        return tag("span", result.get("skipped") or f"{result.get('prompts', 0)} prompts", "muted")
    verdict = pill("drift", "bad") if result.get("drifted") else pill("ok", "ok")
    shown = f"{result.get('method')} {number(result['score'], 3)} / {number(result.get('threshold'), 3)}"
    return join([shown, " ", verdict, f" ({result.get('prompts')} prompts)"])


def _flow(value: object) -> str:
    """A small mapping on one line, YAML flow style: {deployment: wine}."""
    return "-" if not value else yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()


def _yaml(value: object) -> Html:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip()
    return Html(f"<pre>{esc(text)}</pre>")


def _meta(r: Resource) -> dict[str, object]:
    behind = r.observed_generation < r.generation
    return {
        "generation": f"{r.generation} (observed {r.observed_generation})"
        + (" — the controller has not acted on the latest spec yet: is `cnai up` running?" if behind else ""),
        "labels": ", ".join(f"{k}={v}" for k, v in r.labels.items()) or "-",
        "created": when(r.created_at),
        "updated": when(r.updated_at),
    }


# -- deployment -----------------------------------------------------------------------------------

_SHOWN_ABOVE = frozenset({"processes", "events", "traffic"})  # tables and charts of their own


def deployment(plane: ControlPlane, name: str) -> Page:
    d = plane.resources.get("Deployment", name)
    status, spec = d.status, d.spec
    model = status.get("model") or {}
    replicas = status.get("replicas") or {}
    autoscaler = status.get("autoscaler") or {}
    summary = {
        "phase": phase_pill(status.get("phase")),
        "message": status.get("message") or "-",
        "router": _url(status),
        "model": model.get("uri") or spec.get("model", "-"),
        "resolved": model.get("resolved") or "-",
        "version": model.get("version") or "-",
        "revision": status.get("revision") or "-",
        "replicas": f"{replicas.get('ready', 0)} ready / {replicas.get('desired', '-')} desired"
        f" / {replicas.get('updated', 0)} updated",
        "autoscaler": ", ".join(f"{k}={v}" for k, v in autoscaler.items()) or "-",
        **_meta(d),
    }
    canary = status.get("canary")
    canary_html: object = Html('<p class="muted">no canary</p>')
    if canary:
        canary_html = pairs(
            {
                "model": canary.get("model"),
                "version": canary.get("version") or "-",
                "traffic": f"{canary.get('percent', 0):g}%",
                "ready replicas": canary.get("ready", 0),
                "requests": canary.get("requests", 0),
                "errors": canary.get("errors", 0),
                "p99 latency": f"{canary['p99Ms']} ms" if canary.get("p99Ms") is not None else "-",
            }
        )
    targets = lineage.deployment_targets(plane, d)
    target_rows = [
        [
            target,
            link(f"/ui/models/{quote(served[0], safe='')}/versions/{served[1]}", f"{served[0]} v{served[1]}")
            if served
            else "-",
            f"{_percent(spec, target):g}%",
        ]
        for target, served in targets.items()
    ]
    watchers = lineage.monitors_watching(plane, name)
    monitor_links = join((link(f"/ui/monitors/{m.name}", m.name) for m in watchers), ", ") or "none"
    rollback = status.get("lastRollback")
    marks = deploy_activity.chart_marks(d)
    body = join(
        [
            pairs(summary),
            section("Serving", join([table(["target", "model version", "traffic"], target_rows), _split(spec)])),
            section(
                "Traffic over time",
                _traffic_charts(status.get("traffic") or [], with_canary=bool(spec.get("canary")), marks=marks),
                note="per target, sampled by the router every 10 s; the last 10 minutes"
                + ("; dashed lines: scaling, roll-out and canary events" if marks else ""),
            ),
            section("Monitors watching it", Html(f"<p>{esc(monitor_links)}</p>")),
            section("Canary", canary_html),
            section("Last rollback", _yaml(rollback) if rollback else Html('<p class="muted">none</p>')),
            deploy_activity.replicas_section(d),
            deploy_activity.events_section(d),
            Html('<div class="grid">'),
            section("Spec", _yaml(spec)),
            section("Status", _yaml({k: v for k, v in status.items() if k not in _SHOWN_ABOVE} or "not reported yet")),
            Html("</div>"),
        ]
    )
    return Page(name, body, [HOME, ("/#deployments", "deployments")], charts=True)


# -- monitor --------------------------------------------------------------------------------------------


def monitor(plane: ControlPlane, name: str) -> Page:
    if MONITOR not in plane.resources.kinds:
        raise NotFound("Monitors are unavailable on this control plane: pip install 'cnai[monitoring]'")
    from cnai.monitoring.monitor.store import MonitorStore

    m = plane.resources.get(MONITOR, name)
    store = MonitorStore(plane.engine)
    windows = store.windows(name, WINDOWS, None)
    actions = store.actions(name, ACTIONS)
    status, spec = m.status, m.spec
    tests = spec.get("tests") or {}
    features = spec.get("reference") is not None
    threshold = tests.get("driftShareThreshold") if features else None
    prompt_spec = tests.get("promptDrift")
    alerts = status.get("alerts") or {}
    summary = {
        "phase": phase_pill(status.get("phase")),
        "message": status.get("message") or "-",
        "target": _flow(spec.get("target")),
        "reference": _flow(spec.get("reference")) if features else f"none: {NO_DRIFT_TEST} of features",
        "windows": status.get("windows", 0),
        "breaches": status.get("breaches", 0),
        "open window rows": status.get("openWindowRows", 0),
        "actions": ", ".join(f"{k} {v}" for k, v in alerts.items()) or "-",
        **_meta(m),
    }
    if prompt_spec:
        summary["prompt drift"] = join(
            [
                f"{prompt_spec.get('method')} on embeddings from ",
                link(f"/ui/deployments/{prompt_spec['embeddings']}", f"deployment {prompt_spec['embeddings']}"),
                f", reference {_flow(prompt_spec.get('reference'))}",
            ]
        )
    oldest_first = list(reversed(windows))
    charts = _monitor_charts(name, oldest_first, threshold, features=features)
    rows = [
        [
            link(f"/ui/monitors/{name}/windows/{w['window']}", w["window"]),
            span_of(w["start_ms"], w["end_ms"]),
            w["rows"],
            _drift_share(spec, w["drift_share"]),
            _verdict(w),
            ", ".join(sorted(f for f, r in (w["features"] or {}).items() if r.get("drifted"))) or "-",
            *([_prompt_drift(w.get("prompt_drift"))] if prompt_spec else []),
            _performance(w["performance"]),
            short(w["error"] or "", 80),
        ]
        for w in windows
    ]
    columns = list(WINDOW_COLUMNS)
    if prompt_spec:
        columns.insert(columns.index("performance"), "prompt drift")
    action_rows = [
        [
            link(f"/ui/monitors/{name}/windows/{a['window']}", a["window"]),
            a["kind"],
            phase_pill(a["status"]),
            a["attempts"],
            when(a["updated_at"]),
            short(a["last_result"] or "", 100),
        ]
        for a in actions
    ]
    chart_note = f"last {len(windows)} windows on a time axis (window end); click a point for its report" + (
        f"; threshold {threshold:g}" if isinstance(threshold, int | float) else ""
    )
    body = join(
        [
            _watching(m),
            pairs(summary),
            section("Drift over time", charts, note=chart_note),
            section(
                "Windows",
                scroll(table(columns, rows, empty="no windows closed yet", numeric=[0, 2, 3])),
                note=f"newest {WINDOWS}" if len(windows) >= WINDOWS else "",
            ),
            section(
                "Alerts and action deliveries",
                table(["window", "kind", "status", "attempts", "updated", "last result"], action_rows, empty="none"),
                note=f"newest {ACTIONS}" if len(actions) >= ACTIONS else "",
            ),
            Html('<div class="grid">'),
            section("Spec", _yaml(spec)),
            section("Status", _yaml(status or "not reported yet")),
            Html("</div>"),
        ]
    )
    return Page(name, body, [HOME, ("/#monitors", "monitors")], charts=True)


def _watching(m: Resource) -> Html:
    """What the monitor watches, as a link: its deployment, or the model (version) it names."""
    deployment = lineage.monitor_deployment(m)
    if deployment:
        return Html(f"<p>watching {link(f'/ui/deployments/{deployment}', f'deployment {deployment}')}</p>")
    model = lineage.monitor_model(m)
    if model is None:
        return Html("")
    name, version = model
    href = f"/ui/models/{quote(name, safe='')}" + (f"/versions/{version}" if version and version.isdigit() else "")
    shown = f"model {name}" + (f" v{version}" if version else " (every version)")
    return Html(f"<p>watching {link(href, shown)}</p>")


def _performance(perf: dict[str, Any] | None) -> str:
    """Live metrics from posted labels: 'accuracy 0.82, f1 0.816 (100 labels)'."""
    if not perf or not perf.get("labelled"):
        return "-"
    shown = [f"{k} {number(v, 3)}" for k, v in perf.items() if isinstance(v, int | float) and k != "labelled"]
    return ", ".join(shown) + f" ({perf['labelled']} labels)"


MAX_FEATURES = 12


def _monitor_charts(name: str, windows: list[dict[str, Any]], threshold: object, *, features: bool = True) -> Html:
    """Drift share, per-feature scores, prompt drift and live performance per window, x = the
    window's end. Without a reference (``features`` False) there is no drift share to draw.

    Windows can hold different numbers of rows (count or time windows, a spec change between
    them); each point's time is its own window's end, so uneven windows sit where they happened.
    """
    if not windows:
        return Html('<p class="muted">no windows closed yet</p>')
    x = [w["end_ms"] / 1000 for w in windows]
    links = [f"/ui/monitors/{name}/windows/{w['window']}" for w in windows]
    share: dict[str, Any] = {"label": "drift share", "values": [w["drift_share"] for w in windows]}
    drift_series = [share] if features else []
    if features and isinstance(threshold, int | float):
        drift_series.append({"label": "threshold", "values": [float(threshold)] * len(windows), "dash": [5, 4]})
    names = sorted({f for w in windows for f in (w["features"] or {})})[:MAX_FEATURES]
    feature_series = [{"label": f, "values": [_score((w["features"] or {}).get(f)) for w in windows]} for f in names]
    prompt_results = [w.get("prompt_drift") or {} for w in windows]
    prompt_series = []
    if any("score" in r for r in prompt_results):
        prompt_series = [
            {"label": "prompt drift score", "values": [_finite(r.get("score")) for r in prompt_results]},
            {"label": "threshold", "values": [_finite(r.get("threshold")) for r in prompt_results], "dash": [5, 4]},
        ]
    perf_keys = sorted(
        {
            k
            for w in windows
            for k, v in (w["performance"] or {}).items()
            if isinstance(v, int | float) and k != "labelled"
        }
    )
    perf_series = [
        {"label": k, "values": [_finite((w["performance"] or {}).get(k)) for w in windows]} for k in perf_keys
    ]
    parts = []
    for ident, title, series in (
        ("drift-share", "drift share", drift_series),
        ("feature-scores", "per-feature drift score", feature_series),
        ("prompt-drift", "prompt drift (embeddings)", prompt_series),
        ("performance", "live performance (from posted labels)", perf_series),
    ):
        if not series:
            continue
        spec = {
            "x": x,
            "series": series,
            "time": True,
            "xLabel": "window end",
            "yLabel": title,
            "links": links,
            "points": True,
        }
        parts.append(
            f'<figure class="chart-box"><h3>{esc(title)}</h3>'
            f'<div class="chart" id="chart-{ident}" data-inline-chart="data-{ident}" data-height="220"></div>'
            f"{json_script(f'data-{ident}', spec)}</figure>"
        )
    return Html(f'<div class="charts">{"".join(parts)}</div>')


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _score(result: object) -> float | None:
    """A feature's drift score (a distance, or 1 - p for p-value tests) as the monitor stored it."""
    if not isinstance(result, dict):
        return None
    score = _finite(result.get("score"))
    if score is None and _finite(result.get("p_value")) is not None:
        score = 1 - float(result["p_value"])
    return score


def window_report(plane: ControlPlane, name: str, seq: str) -> Page:
    """One window's drift report: per-feature tests, data quality, performance and its actions."""
    if MONITOR not in plane.resources.kinds:
        raise NotFound("Monitors are unavailable on this control plane: pip install 'cnai[monitoring]'")
    from cnai.monitoring.monitor.store import MonitorStore

    spec = plane.resources.get(MONITOR, name).spec
    if not seq.isdigit():
        raise InvalidArgument(f"Window numbers are integers, got {seq!r}")
    store = MonitorStore(plane.engine)
    w = store.window(name, int(seq))
    if w is None:
        raise NotFound(f"Monitor {name} has no window {seq}")
    feature_rows = [
        [
            f,
            r.get("kind", "-"),
            r.get("test", "-"),
            number(r.get("statistic"), 4),
            number(r.get("p_value"), 4),
            number(r.get("score"), 4),
            number(r.get("threshold"), 4),
            pill("drift", "warn") if r.get("drifted") else pill("ok", "ok"),
        ]
        for f, r in sorted((w["features"] or {}).items())
    ]
    actions = [a for a in store.actions(name, 500) if a["window"] == w["window"]]
    action_rows = [
        [a["kind"], phase_pill(a["status"]), a["attempts"], when(a["updated_at"]), short(a["last_result"] or "", 200)]
        for a in actions
    ]
    body = join(
        [
            pairs(
                {
                    "monitor": link(f"/ui/monitors/{name}", name),
                    "time": span_of(w["start_ms"], w["end_ms"]),
                    "rows": w["rows"],
                    "drift share": _drift_share(spec, w["drift_share"]),
                    "verdict": _verdict(w),
                    **({"prompt drift": _prompt_drift(w["prompt_drift"])} if w.get("prompt_drift") else {}),
                    "performance": _performance(w["performance"]),
                    "error": w["error"] or "-",
                }
            ),
            section(
                "Features",
                table(
                    ["feature", "kind", "test", "statistic", "p-value", "score", "threshold", "verdict"],
                    feature_rows,
                    numeric=[3, 4, 5, 6],
                ),
            ),
            section("Data quality", _yaml(w["quality"]) if w["quality"] else Html('<p class="muted">none</p>')),
            section("Actions", table(["kind", "status", "attempts", "updated", "last result"], action_rows)),
        ]
    )
    return Page(
        f"{name}: window {w['window']}", body, [HOME, ("/#monitors", "monitors"), (f"/ui/monitors/{name}", name)]
    )


def _traffic_charts(
    samples: list[dict[str, Any]], *, with_canary: bool, marks: list[dict[str, Any]] | None = None
) -> Html:
    """Request rate, error rate and latency percentiles per target from ``status.traffic``."""
    targets = ["primary"] + (["canary"] if with_canary else [])
    times = sorted({int(s["t"]) for s in samples if isinstance(s, dict) and isinstance(s.get("t"), int)})
    if not times:
        return Html('<p class="muted">no traffic recorded yet (the controller samples while `cnai up` runs)</p>')
    at = {(int(s["t"]), s.get("target")): s for s in samples if isinstance(s, dict) and isinstance(s.get("t"), int)}
    x = [t / 1000 for t in times]

    def series(field: str, label: str = "") -> list[dict[str, Any]]:
        return [
            {
                "label": f"{target} {label}".strip(),
                "values": [_finite((at.get((t, target)) or {}).get(field)) for t in times],
            }
            for target in targets
        ]

    charts = [
        ("requests", "requests per second", series("rps")),
        ("errors", "error rate", series("errorRate")),
        ("latency", "latency (ms)", series("p50Ms", "p50") + series("p95Ms", "p95") + series("p99Ms", "p99")),
    ]
    parts = []
    for ident, title, data in charts:
        spec = {"x": x, "series": data, "time": True, "xLabel": "time", "yLabel": title, "points": True}
        if marks:
            spec["marks"] = marks
        parts.append(
            f'<figure class="chart-box"><h3>{esc(title)}</h3>'
            f'<div class="chart" id="chart-{ident}" data-inline-chart="data-{ident}" data-height="200"></div>'
            f"{json_script(f'data-{ident}', spec)}</figure>"
        )
    return Html(f'<div class="charts">{"".join(parts)}</div>{_mark_list(marks or [], x)}')


MARKS_LISTED = 12


def _mark_list(marks: list[dict[str, Any]], x: list[float]) -> Html:
    """What the dashed lines are: the events inside the charts' time range, as text (newest last)."""
    inside = [m for m in marks if x and x[0] <= m["x"] <= x[-1]][-MARKS_LISTED:]
    if not inside:
        return Html("")
    items = "".join(f"<li>{when(int(m['x'] * 1000))} {esc(m['label'])}</li>" for m in inside)
    return Html(f'<ul class="marks" aria-label="events on the charts">{items}</ul>')
