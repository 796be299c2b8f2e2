"""Small HTML building blocks: escaping, tables, definition lists and inline SVG charts.

Escaping is by construction: every function here takes plain values and escapes them, except
values already wrapped in :class:`Html` (markup this package built). Names, tags and params are
user input; a run named ``<script>`` must reach the page as text, never as markup.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


class Html(str):
    """Markup built by this package: passed through :func:`esc` untouched."""


def esc(value: object) -> Html:
    """The one escaping helper: ``Html`` stays as it is, anything else becomes escaped text."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(esc(sep).join(esc(p) for p in parts))


def link(href: str, text: object) -> Html:
    return Html(f'<a href="{esc(href)}">{esc(text)}</a>')


def tag(name: str, content: object, cls: str = "", title: str = "") -> Html:
    attrs = (f' class="{esc(cls)}"' if cls else "") + (f' title="{esc(title)}"' if title else "")
    return Html(f"<{name}{attrs}>{esc(content)}</{name}>")


def pill(text: object, tone: str = "") -> Html:
    """A small coloured label; ``tone`` is one of ok, warn, bad or empty for neutral."""
    return tag("span", text, f"pill {tone}".strip())


def phase_pill(phase: object) -> Html:
    tones = {"Ready": "ok", "Progressing": "warn", "Pending": "warn", "ScaledToZero": "", "Failed": "bad"}
    tones |= {"Error": "bad", "Stopped": "warn", "FINISHED": "ok", "RUNNING": "warn", "FAILED": "bad"}
    tones |= {"KILLED": "bad", "delivered": "ok", "pending": "warn", "failed": "bad", "ready": "ok", "READY": "ok"}
    tones |= {"complete": "ok", "pruned": "warn", "running": "warn"}  # tuning trials
    return pill(phase or "-", tones.get(str(phase), ""))


def short(value: object, limit: int = 120) -> Html:
    """Long values (JSON tags, sources) cut to ``limit`` characters; the full text is the tooltip."""
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return esc(text)
    return tag("span", text[: limit - 1] + "…", title=text)


def table(
    headers: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    empty: str = "none",
    numeric: Sequence[int] = (),
    groups: Sequence[tuple[str, int]] = (),
) -> Html:
    """A table; ``numeric`` column indexes are right-aligned; ``groups`` (label, span) adds a
    header row above the column names (params / metrics)."""
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{esc(h)}</th>" for i, h in enumerate(headers))
    if groups:
        cells = "".join(f'<th colspan="{span}" class="group">{esc(label)}</th>' for label, span in groups if span)
        head = f"{cells}</tr><tr>{head}"
    body = [
        "<tr>" + "".join(f"<td{' class=num' if i in numeric else ''}>{esc(c)}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    ]
    if not body:
        body = [f'<tr><td colspan="{max(len(headers), 1)}" class="muted">{esc(empty)}</td></tr>']
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def pairs(items: Mapping[str, object] | Iterable[tuple[object, object]], *, empty: str = "none") -> Html:
    """A two-column key/value list (params, tags, status fields)."""
    entries = list(items.items()) if isinstance(items, Mapping) else list(items)
    if not entries:
        return Html(f'<p class="muted">{esc(empty)}</p>')
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in entries)
    return Html(f'<table class="kv"><tbody>{rows}</tbody></table>')


def section(title: str, body: object, *, anchor: str = "", note: object = "") -> Html:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    extra = f' <span class="muted small">{esc(note)}</span>' if note else ""
    return Html(f"<section{ident}><h2>{esc(title)}{extra}</h2>{esc(body)}</section>")


def scroll(content: object) -> Html:
    """Wide content (runs with many columns) scrolls sideways instead of widening the page."""
    return Html(f'<div class="scroll">{esc(content)}</div>')


def truncated_note(shown: int, more: bool, what: str) -> str:
    return f"showing the newest {shown} {what}" if more else ""


def lineage_strip(items: list[object]) -> Html:
    """A lineage strip: neighbours left and right of the page's object."""
    parts = []
    for i, item in enumerate(items):
        if i:
            parts.append('<span class="arrow" aria-hidden="true">→</span>')
        parts.append(f'<span class="step">{esc(item)}</span>')
    return Html(f'<nav class="lineage" aria-label="lineage">{"".join(parts)}</nav>')


def json_script(element_id: str, value: object) -> Html:
    """JSON inside a script element: '<', '>' and '&' escaped so a value cannot end the element."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Html(f'<script type="application/json" id="{esc(element_id)}">{text}</script>')


# -- values ------------------------------------------------------------------------------------


def _stamp(ms: object) -> str:
    if not isinstance(ms, int | float) or ms <= 0:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def when(ms: object) -> Html:
    """A millisecond timestamp as local time, never wrapped inside a table cell; '-' when absent."""
    stamp = _stamp(ms)
    return Html(stamp if stamp == "-" else f'<span class="nw">{stamp}</span>')


def span_of(start_ms: object, end_ms: object) -> Html:
    """A window's time span, the date written once when both ends fall on the same day."""
    start, end = _stamp(start_ms), _stamp(end_ms)
    if start[:10] == end[:10] and start != "-":
        end = end[11:]
    return Html(f'<span class="nw">{start} \u2013 {end}</span>')


def duration(start_ms: object, end_ms: object) -> str:
    if not isinstance(start_ms, int | float) or not isinstance(end_ms, int | float) or end_ms < start_ms:
        return "-"
    seconds = (end_ms - start_ms) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60)}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60)}m"


def number(value: object, digits: int = 4) -> str:
    """Metrics as MLflow sends them: floats, or the strings 'NaN' / 'Infinity' / '-Infinity'."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def finite(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# -- inline SVG ----------------------------------------------------------------------------------


def sparkline(values: Sequence[Any], width: int = 160, height: int = 32) -> Html:
    """A metric's history as a line; non-finite points are left out. Empty for no finite point."""
    points = [v for v in (finite(x) for x in values) if v is not None]
    if not points:
        return Html("")
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    pad = 3
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    coords = [
        (pad + i * step, pad + (height - 2 * pad) * (1 - (v - low) / span) if high > low else height / 2)
        for i, v in enumerate(points)
    ]
    label = f"{len(points)} points, min {number(low)}, max {number(high)}, last {number(points[-1])}"
    last_x, last_y = coords[-1]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    return Html(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>{esc(label)}</title>"
        f'<polyline points="{line}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="currentColor"/></svg>'
    )


def bar_chart(
    bars: Sequence[tuple[str, float | None, bool]], *, threshold: float | None = None, height: int = 120
) -> Html:
    """Bars of values in [0, 1] (drift shares), oldest first: (tooltip, value, highlighted).

    Highlighted bars (breached windows) are drawn in the alert colour; ``threshold`` is a dashed line.
    """
    if not bars:
        return Html('<p class="muted">no windows yet</p>')
    bar_w, gap, top, bottom = max(6, min(28, 640 // len(bars))), 3, 6, 16
    width = len(bars) * (bar_w + gap) + 40
    inner = height - top - bottom

    def y(v: float) -> float:
        return top + inner * (1 - min(max(v, 0.0), 1.0))

    parts = [
        f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="30" y1="{y(0):.1f}" x2="{width}" y2="{y(0):.1f}" class="axis"/>',
        f'<text x="0" y="{y(1) + 4:.1f}" class="tick">1.0</text><text x="0" y="{y(0) + 4:.1f}" class="tick">0</text>',
    ]
    for i, (label, value, hot) in enumerate(bars):
        x = 34 + i * (bar_w + gap)
        v = value if value is not None and math.isfinite(value) else 0.0
        cls = "bar hot" if hot else "bar"
        parts.append(
            f'<rect x="{x}" y="{y(v):.1f}" width="{bar_w}" height="{max(y(0) - y(v), 1):.1f}" class="{cls}">'
            f"<title>{esc(label)}</title></rect>"
        )
        if hot:  # visible even when the bar has no height (a window breached by performance alone)
            parts.append(f'<rect x="{x}" y="{y(0) + 3:.1f}" width="{bar_w}" height="4" class="mark"/>')
    if threshold is not None:
        parts.append(f'<line x1="30" y1="{y(threshold):.1f}" x2="{width}" y2="{y(threshold):.1f}" class="limit"/>')
        parts.append(f'<text x="0" y="{y(threshold) + 4:.1f}" class="tick">{threshold:g}</text>')
    parts.append("</svg>")
    return Html("".join(parts))
