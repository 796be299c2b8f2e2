"""The study page of a ``cnai tune`` study: its trials over time, params against value, and a table
of trials best first. Reached from the study's run (and from each trial's run) on the run page.

A study is its parent run (tag ``cnai.tune.study``) and one child run per trial (tags
``mlflow.parentRunId``, ``cnai.tune.trial``, ``cnai.tune.state``; the result as metric ``value``);
the page reads nothing else, so it shows a study tracked on any cnai server, whoever drove it.
The charts are uPlot over inline JSON (``cnai.js``), the scatters server-drawn SVG: every name and
value from the runs is escaped, in markup and in the JSON alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnai.errors import NotFound
from cnai.ui.components import (
    Html,
    esc,
    join,
    json_script,
    link,
    number,
    pairs,
    phase_pill,
    scroll,
    section,
    short,
    table,
    when,
)
from cnai.ui.layout import HOME, Page
from cnai.ui.pages import unknown_is_missing

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

STUDY_TAG = "cnai.tune.study"
TRIAL_TAG = "cnai.tune.trial"
STATE_TAG = "cnai.tune.state"
PARENT_TAG = "mlflow.parentRunId"
MAX_TRIALS = 20_000  # read at most this many trial runs (charts draw them all)
TABLE_ROWS = 500  # the table shows the best this many
MAX_SCATTERS = 12  # one params-vs-value scatter per param, the first this many
STATE_ORDER = {"complete": 0, "pruned": 1, "failed": 2, "running": 3}


@dataclass
class Trial:
    number: int
    run_id: str
    state: str
    value: float | None
    params: dict[str, str] = field(default_factory=dict)
    start_ms: int | None = None
    end_ms: int | None = None
    worker: str = ""
    error: str = ""


def href(run_id: str) -> str:
    return f"/ui/studies/{run_id}"


def study_link(run: dict[str, Any]) -> Html | None:
    """For the run page: a link to the study page of a study's run or of one of its trials."""
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    if STUDY_TAG not in tags:
        return None
    if TRIAL_TAG in tags and tags.get(PARENT_TAG):
        return link(href(tags[PARENT_TAG]), f"study {tags[STUDY_TAG]} (trial {tags[TRIAL_TAG]})")
    return link(href(run["info"]["run_id"]), f"study {tags[STUDY_TAG]}")


def study(plane: ControlPlane, run_id: str) -> Page:
    found = unknown_is_missing(lambda: plane.runs.get(run_id))
    info = found["info"]
    tags = {t["key"]: t["value"] for t in found["data"]["tags"]}
    if STUDY_TAG not in tags:
        raise NotFound(f"Run {run_id} is not a study's run (it has no {STUDY_TAG} tag).")
    if TRIAL_TAG in tags and tags.get(PARENT_TAG):
        raise NotFound(f"Run {run_id} is trial {tags[TRIAL_TAG]} of a study: see {href(tags[PARENT_TAG])}")
    exp = plane.experiments.get(info["experiment_id"])
    maximize = tags.get("cnai.tune.direction", "maximize") != "minimize"
    trials, more = _trials(plane, info["experiment_id"], info["run_id"])
    ranked = rank(trials, maximize)
    complete = [t for t in ranked if t.state == "complete" and t.value is not None]
    best = complete[0] if complete else None
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    overview = pairs(
        {
            "study": tags[STUDY_TAG],
            "status": phase_pill(info["status"]),
            "experiment": link(f"/ui/experiments/{exp['experiment_id']}", exp["name"]),
            "study run": link(f"/ui/runs/{info['run_id']}", info["run_name"] or info["run_id"]),
            "objective": tags.get("cnai.tune.objective", "-"),
            "direction": "maximize" if maximize else "minimize",
            "sampler / pruner": f"{tags.get('cnai.tune.sampler', '-')} / {tags.get('cnai.tune.pruner', '-')}",
            "trials": ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: STATE_ORDER.get(kv[0], 9)))
            or "none yet",
            "best value": number(best.value, 6) if best else "-",
            "best trial": link(f"/ui/runs/{best.run_id}", f"trial {best.number}") if best else "-",
            "best params": ", ".join(f"{k}={v}" for k, v in sorted(best.params.items())) if best else "-",
            "started": when(info["start_time"]),
        }
    )
    body = join(
        [
            overview,
            section(
                "Trials over time",
                _history_charts(trials, maximize),
                note="each dot a completed trial; the line, the best so far",
            ),
            section("Params against value", _scatters(complete), note="one dot per completed trial"),
            section(
                "Trials, best first",
                _table(ranked),
                note=(f"the best {TABLE_ROWS} of {len(ranked)}" if len(ranked) > TABLE_ROWS else "")
                + (f"; only the first {MAX_TRIALS} trial runs read" if more else ""),
            ),
        ]
    )
    crumbs = [
        HOME,
        (f"/ui/experiments/{exp['experiment_id']}", exp["name"]),
        (f"/ui/runs/{info['run_id']}", info["run_name"] or info["run_id"]),
    ]
    return Page(f"Study {tags[STUDY_TAG]}", body, crumbs, charts=True)


def _trials(plane: ControlPlane, experiment_id: str, parent_run_id: str) -> tuple[list[Trial], bool]:
    """The study's trial runs (``parent_run_id`` is the stored run's own id: hex, safe in a filter)."""
    found: list[Trial] = []
    token = None
    while True:
        page, token = plane.runs.search(
            [experiment_id], f"tags.`{PARENT_TAG}` = '{parent_run_id}'", "ALL", 1000, None, token
        )
        found += [t for t in (_trial(r) for r in page) if t is not None]
        if not token or len(found) >= MAX_TRIALS:
            return found[:MAX_TRIALS], bool(token)


def _trial(run: dict[str, Any]) -> Trial | None:
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    try:
        trial_number = int(tags.get(TRIAL_TAG, ""))
    except ValueError:
        return None  # a child run that is not a trial (a user's nested run)
    info = run["info"]
    state = tags.get(STATE_TAG) or ("running" if info["status"] == "RUNNING" else info["status"].lower())
    value = next((_finite(m["value"]) for m in run["data"].get("metrics", []) if m["key"] == "value"), None)
    return Trial(
        number=trial_number,
        run_id=info["run_id"],
        state=state,
        value=value if state == "complete" else None,
        params={p["key"]: p["value"] for p in run["data"].get("params", [])},
        start_ms=info.get("start_time"),
        end_ms=info.get("end_time"),
        worker=tags.get("cnai.tune.worker", ""),
        error=tags.get("cnai.tune.error", ""),
    )


def rank(trials: Sequence[Trial], maximize: bool) -> list[Trial]:
    """Best first: completed trials by value, then pruned, failed and running ones by number."""

    def key(t: Trial) -> tuple[int, float, int]:
        if t.state == "complete" and t.value is not None:
            return (0, -t.value if maximize else t.value, t.number)
        return (1 + STATE_ORDER.get(t.state, 9), 0.0, t.number)

    return sorted(trials, key=key)


def best_so_far(values: Sequence[float], maximize: bool) -> list[float]:
    out: list[float] = []
    for v in values:
        out.append(v if not out else (max(out[-1], v) if maximize else min(out[-1], v)))
    return out


def _history_charts(trials: Sequence[Trial], maximize: bool) -> Html:
    done = [t for t in trials if t.state == "complete" and t.value is not None]
    if not done:
        return Html('<p class="muted">no completed trial yet</p>')
    by_number = sorted(done, key=lambda t: t.number)
    by_time = sorted((t for t in done if t.end_ms), key=lambda t: t.end_ms or 0)
    specs = [
        (
            "value by trial number",
            "by-number",
            {
                "x": [t.number for t in by_number],
                "series": [
                    {"label": "value", "values": [t.value for t in by_number], "pointsOnly": True},
                    {"label": "best so far", "values": best_so_far([t.value or 0.0 for t in by_number], maximize)},
                ],
                "xLabel": "trial",
                "yLabel": "value",
            },
        ),
        (
            "value over time",
            "by-time",
            {
                "x": [(t.end_ms or 0) / 1000 for t in by_time],
                "series": [
                    {"label": "value", "values": [t.value for t in by_time], "pointsOnly": True},
                    {"label": "best so far", "values": best_so_far([t.value or 0.0 for t in by_time], maximize)},
                ],
                "time": True,
                "xLabel": "trial ended",
                "yLabel": "value",
            },
        ),
    ]
    parts = [
        f'<figure class="chart-box"><h3>{esc(title)}</h3>'
        f'<div class="chart" id="chart-{ident}" data-inline-chart="data-{ident}" data-height="240" '
        f'role="img" aria-label="{esc(title)}"></div>{json_script(f"data-{ident}", spec)}</figure>'
        for title, ident, spec in specs
    ]
    return Html(f'<div class="charts">{"".join(parts)}</div>')


def _scatters(done: Sequence[Trial]) -> Html:
    names = sorted({k for t in done for k in t.params})
    if not done or not names:
        return Html('<p class="muted">no completed trial with params yet</p>')
    shown = names[:MAX_SCATTERS]
    figures = "".join(f'<figure class="chart-box"><h3>{esc(name)}</h3>{scatter(name, done)}</figure>' for name in shown)
    more = f'<p class="muted">first {MAX_SCATTERS} of {len(names)} params</p>' if len(names) > len(shown) else ""
    return Html(f'<div class="charts">{figures}</div>{more}')


def scatter(name: str, trials: Sequence[Trial], width: int = 480, height: int = 240) -> Html:
    """One param (x) against the value (y), a dot per trial; categories spread evenly on x."""
    points = [(t.params[name], t.value, t.number) for t in trials if name in t.params and t.value is not None]
    xs_num = [_number(p[0]) for p in points]
    numeric = all(x is not None for x in xs_num) and len({p[0] for p in points}) > 1
    categories: list[str] = []
    for raw, _, _ in points:
        if raw not in categories:
            categories.append(raw)
    if numeric:
        xs = [float(x) for x in xs_num if x is not None]
    else:
        categories.sort(key=lambda c: (_number(c) is None, _number(c) or 0.0, c))
        xs = [float(categories.index(raw)) for raw, _, _ in points]
    ys = [float(v) for _, v, _ in points if v is not None]
    left, right, top, bottom = 64, 14, 10, 40
    x0, x1 = (min(xs), max(xs)) if numeric else (-0.5, len(categories) - 0.5)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) or 1) * 0.05, y1 + (abs(y1) or 1) * 0.05

    def sx(v: float) -> float:
        return left + (width - left - right) * (v - x0) / (x1 - x0)

    def sy(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - y0) / (y1 - y0))

    parts = [
        f'<svg class="scatter" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(name)} against value" data-dots="{len(points)}">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" class="axis"/>',
    ]
    for v in (y0, (y0 + y1) / 2, y1):
        parts.append(
            f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end" class="tick">{esc(number(v, 4))}</text>'
        )
    ticks = [(v, number(v, 4)) for v in (x0, (x0 + x1) / 2, x1)] if numeric else list(enumerate(categories))[:20]
    for v, label in ticks:
        parts.append(
            f'<text x="{sx(float(v)):.1f}" y="{height - bottom + 15}" text-anchor="middle" class="tick">'
            f"{esc(str(label)[:16])}</text>"
        )
    parts.append(
        f'<text x="{(left + width) / 2:.0f}" y="{height - 4}" text-anchor="middle" class="label">{esc(name)}</text>'
    )
    for (raw, value, trial_number), x, y in zip(points, xs, ys, strict=True):
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" class="trial"><title>'
            f"{esc(f'trial {trial_number}: {name}={raw}, value={number(value, 6)}')}</title></circle>"
        )
    parts.append("</svg>")
    return Html("".join(parts))


def _table(ranked: Sequence[Trial]) -> Html:
    names = sorted({k for t in ranked for k in t.params})
    rows = [
        [
            link(f"/ui/runs/{t.run_id}", f"trial {t.number}"),
            phase_pill(t.state),
            number(t.value, 6) if t.value is not None else "-",
            *[short(t.params.get(name, "-"), 40) for name in names],
            _seconds(t.start_ms, t.end_ms),
            when(t.start_ms),
            short(t.worker, 40),
            short(t.error, 80) if t.error else "",
        ]
        for t in ranked[:TABLE_ROWS]
    ]
    headers = ["trial", "state", "value", *names, "duration", "started", "worker", "error"]
    groups = [("", 3), ("params", len(names)), ("", 4)]
    return scroll(table(headers, rows, numeric=[2], groups=groups, empty="no trial yet"))


def _seconds(start_ms: int | None, end_ms: int | None) -> str:
    if not start_ms or not end_ms or end_ms < start_ms:
        return "-"
    return f"{(end_ms - start_ms) / 1000:.2f}s"


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
