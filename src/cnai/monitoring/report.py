"""A self-contained HTML drift report: one file, inline CSS and SVG, no script, no network.

Opens offline in any browser and survives being mailed or attached to a ticket. Plots are drawn
here as SVG from the per-column distributions the engine already computed (reference vs current
shares over the same bins or categories).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from cnai.monitoring.drift.result import ColumnDrift, Distribution, DriftReport
from cnai.monitoring.quality import ColumnQuality

REF_COLOR = "#4c72b0"
CUR_COLOR = "#dd8452"
PLOT_W, PLOT_H, PAD_L, PAD_B, PAD_T = 560, 200, 44, 46, 10

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.drift{color:#b00020;font-weight:600} .ok{color:#1b7f3b} .muted{color:#777;font-size:12px}
.verdict{display:inline-block;padding:6px 12px;border-radius:4px;font-weight:600;margin:8px 0}
.verdict.drift{background:#fde8ea} .verdict.ok{background:#e6f4ea}
.feature{border:1px solid #e4e4e4;border-radius:6px;padding:8px 12px;margin:12px 0}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
svg text{font-size:10px;fill:#555}
"""


def render_html(report: DriftReport, *, title: str = "cnai drift report") -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<div class='muted'>reference: {_e(report.reference)} ({report.reference_rows:,} rows) · "
        f"current: {_e(report.current)} ({report.current_rows:,} rows) · "
        f"generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}</div>",
        _verdict(report),
        _summary_table(report.columns),
    ]
    if report.classifier is not None:
        c = report.classifier
        cls = "drift" if c.drifted else "ok"
        parts.append(
            f"<h2>Domain classifier</h2><p>{_e(c.model)} told reference from current rows with ROC AUC "
            f"<b class='{cls}'>{c.roc_auc:.3f}</b> (drift when &gt; {c.threshold}; {c.n_train:,} training rows, "
            f"{c.n_test:,} held out; columns: {_e(', '.join(c.columns))}).</p>"
        )
    parts.append(_quality(report))
    parts.append("<h2>Per-feature distributions</h2>")
    parts.append(
        f"<div class='legend muted'><span style='background:{REF_COLOR}'></span>reference"
        f"<span style='background:{CUR_COLOR}'></span>current (share of rows)</div>"
    )
    for col in report.columns:
        parts.append(_feature(col))
    if report.skipped:
        parts.append("<h2>Skipped columns</h2><ul>")
        parts.extend(f"<li>{_e(s.column)}: {_e(s.reason)}</li>" for s in report.skipped)
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: DriftReport, path: str | Path, *, title: str = "cnai drift report") -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report, title=title), encoding="utf-8")
    return out


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    return f"{x:.4g}"


def _verdict(report: DriftReport) -> str:
    cls = "drift" if report.dataset_drift else "ok"
    word = "Dataset drift detected" if report.dataset_drift else "No dataset drift"
    return (
        f"<div class='verdict {cls}'>{word}: {report.n_drifted} of {len(report.columns)} columns drifted "
        f"({report.share_drifted:.0%}; threshold {report.drift_share_threshold:.0%})</div>"
    )


def _summary_table(columns: list[ColumnDrift]) -> str:
    rows = [
        "<table><tr><th>column</th><th>type</th><th>test</th><th>statistic</th><th>p-value</th>"
        "<th>score</th><th>threshold</th><th>rule</th><th>drift</th></tr>"
    ]
    for c in columns:
        cls = "drift" if c.drifted else "ok"
        rows.append(
            f"<tr><td><a href='#f-{_e(c.column)}'>{_e(c.column)}</a></td><td>{_e(c.kind)}</td>"
            f"<td>{_e(c.test_display_name)}</td><td class='num'>{_fmt(c.statistic)}</td>"
            f"<td class='num'>{_fmt(c.p_value)}</td><td class='num'>{_fmt(c.score)}</td>"
            f"<td class='num'>{_fmt(c.threshold)}</td><td>{_e(c.rule)}</td>"
            f"<td class='{cls}'>{'drift' if c.drifted else 'no'}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _quality(report: DriftReport) -> str:
    s = report.schema
    out = ["<h2>Data quality</h2>"]
    if s.changed:
        items = []
        if s.missing_in_current:
            items.append(f"<li>missing in current: {_e(', '.join(s.missing_in_current))}</li>")
        if s.extra_in_current:
            items.append(f"<li>new in current: {_e(', '.join(s.extra_in_current))}</li>")
        items.extend(
            f"<li>type of {_e(t.column)}: {_e(t.reference_type)} → {_e(t.current_type)}</li>" for t in s.type_changes
        )
        out.append("<p><b>Schema changes</b></p><ul>" + "".join(items) + "</ul>")
    else:
        out.append("<p class='ok'>Same columns and types in both datasets.</p>")
    out.append(
        "<table><tr><th>column</th><th>type (ref → cur)</th><th>missing ref</th><th>missing cur</th>"
        "<th>outside reference range</th><th>unseen categories</th></tr>"
    )
    for q in report.quality:
        out.append(_quality_row(q))
    out.append("</table>")
    return "".join(out)


def _quality_row(q: ColumnQuality) -> str:
    typ = _e(q.reference_type)
    if q.type_changed:
        typ = f"<span class='drift'>{_e(q.reference_type)} → {_e(q.current_type)}</span>"
    m = q.missing
    worse = m.current_share > m.reference_share and m.current_count > 0
    miss_cur = f"<span class='{'drift' if worse else ''}'>{m.current_count:,} ({m.current_share:.1%})</span>"
    oor = "-"
    if q.out_of_range is not None:
        o = q.out_of_range
        n = o.below + o.above
        oor = (
            f"<span class='{'drift' if n else ''}'>{n:,} ({o.share:.1%})</span> "
            f"<span class='muted'>[{_fmt(o.reference_min)}, {_fmt(o.reference_max)}]</span>"
        )
    unseen = "-"
    if q.unseen_categories is not None:
        u = q.unseen_categories
        shown = ", ".join(u.values[:5]) + ("…" if u.count > 5 else "")
        unseen = (
            f"<span class='{'drift' if u.count else ''}'>{u.count:,} values, {u.rows:,} rows ({u.share:.1%})</span>"
            + (f" <span class='muted'>{_e(shown)}</span>" if u.count else "")
        )
    return (
        f"<tr><td>{_e(q.column)}</td><td>{typ}</td><td class='num'>{m.reference_count:,} ({m.reference_share:.1%})</td>"
        f"<td class='num'>{miss_cur}</td><td>{oor}</td><td>{unseen}</td></tr>"
    )


def _feature(c: ColumnDrift) -> str:
    cls = "drift" if c.drifted else "ok"
    head = (
        f"<div class='feature' id='f-{_e(c.column)}'><b>{_e(c.column)}</b> "
        f"<span class='muted'>{_e(c.kind)} · {_e(c.test_display_name)} = {_fmt(c.score)} "
        f"(threshold {_fmt(c.threshold)})</span> <span class='{cls}'>{'drift' if c.drifted else 'no drift'}</span><br>"
    )
    body = _svg(c.distribution) if c.distribution is not None else "<p class='muted'>no plot data</p>"
    return head + body + "</div>"


def _svg(d: Distribution) -> str:
    """Grouped bars: for each bin or category, reference then current share."""
    n = len(d.labels)
    if n == 0:
        return ""
    top = max(max(d.reference, default=0.0), max(d.current, default=0.0)) or 1.0
    inner_w, inner_h = PLOT_W - PAD_L - 8, PLOT_H - PAD_B - PAD_T
    slot = inner_w / n
    bar = max(slot * 0.4, 0.5)
    out = [f"<svg width='{PLOT_W}' height='{PLOT_H}' role='img'>"]
    base_y = PAD_T + inner_h
    out.append(f"<line x1='{PAD_L}' y1='{base_y}' x2='{PLOT_W - 8}' y2='{base_y}' stroke='#999'/>")
    for frac in (0.5, 1.0):
        y = base_y - inner_h * frac
        out.append(f"<line x1='{PAD_L}' y1='{y:.1f}' x2='{PLOT_W - 8}' y2='{y:.1f}' stroke='#eee'/>")
        out.append(f"<text x='{PAD_L - 4}' y='{y + 3:.1f}' text-anchor='end'>{top * frac:.2g}</text>")
    label_every = max(1, n // 10)
    for i, (r, c) in enumerate(zip(d.reference, d.current, strict=True)):
        x0 = PAD_L + i * slot + (slot - 2 * bar) / 2
        for j, (v, color) in enumerate(((r, REF_COLOR), (c, CUR_COLOR))):
            h = inner_h * v / top
            out.append(
                f"<rect x='{x0 + j * bar:.2f}' y='{base_y - h:.2f}' width='{bar:.2f}' height='{h:.2f}' fill='{color}'>"
                f"<title>{_e(d.labels[i])}: {'reference' if j == 0 else 'current'} {v:.3%}</title></rect>"
            )
        if i % label_every == 0:
            label = d.labels[i] if len(d.labels[i]) <= 12 else d.labels[i][:11] + "…"
            lx = PAD_L + i * slot + slot / 2
            out.append(
                f"<text x='{lx:.1f}' y='{base_y + 12}' text-anchor='end' "
                f"transform='rotate(-35 {lx:.1f} {base_y + 12})'>{_e(label)}</text>"
            )
    out.append("</svg>")
    return "".join(out)
