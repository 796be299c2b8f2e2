"""The page shell every UI page shares: one inline stylesheet, a header with breadcrumbs.

Pages are server-rendered and readable without script; the charting library (uPlot, vendored)
and ``cnai.js`` come from this control plane itself, so the UI needs no network beyond it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cnai import __version__
from cnai.ui.components import Html, esc, link

CSS = """
:root { --fg:#1d232b; --muted:#6a7380; --line:#e3e6ea; --bg:#fff; --head:#f6f7f9; --accent:#1f5fbf;
  --ok:#1b7f3b; --warn:#a26300; --bad:#b3261e; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
  color:var(--fg); background:var(--bg); }
header { background:#18202b; color:#fff; padding:10px 24px; display:flex; gap:18px; align-items:baseline; }
header a { color:#fff; text-decoration:none; }
header .brand { font-weight:700; font-size:16px; }
header nav a { color:#c9d3df; margin-right:14px; }
header .ver { margin-left:auto; color:#8996a6; font-size:12px; }
main { padding:16px 24px 40px; max-width:1400px; }
h1 { font-size:20px; margin:6px 0 4px; word-break:break-all; }
h2 { font-size:15px; margin:22px 0 8px; padding-bottom:4px; border-bottom:1px solid var(--line); }
a { color:var(--accent); }
.crumbs { color:var(--muted); font-size:13px; }
.crumbs a { color:var(--muted); }
.muted { color:var(--muted); }
.nw { white-space:nowrap; }
.small { font-size:12px; font-weight:normal; }
.cards { display:flex; gap:12px; flex-wrap:wrap; margin:12px 0; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:130px; }
.card b { display:block; font-size:22px; }
.card a { text-decoration:none; color:inherit; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:auto; min-width:40%; }
th, td { text-align:left; padding:4px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
thead th { background:var(--head); font-weight:600; white-space:nowrap; }
thead th a { color:inherit; }
tbody tr:hover { background:#fafbfc; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
table.kv th { font-weight:600; color:#3a4350; white-space:nowrap; background:none; }
td { overflow-wrap:break-word; max-width:520px; }
th.group { text-align:center; font-weight:500; color:var(--muted); border-bottom:1px solid #cfd5dc; }
.bad-text { color:var(--bad); }
pre { background:var(--head); border:1px solid var(--line); border-radius:4px; padding:10px 12px;
  overflow-x:auto; font-size:12.5px; }
code { font-size:12.5px; }
.pill { display:inline-block; white-space:nowrap; padding:0 7px; border-radius:9px; font-size:12px;
  background:#e9ecf0; }
.pill.ok { background:#dff3e5; color:var(--ok); } .pill.warn { background:#fdf0d9; color:var(--warn); }
.pill.bad { background:#fbe1df; color:var(--bad); }
.error { border:1px solid #f0c2bd; background:#fdf1f0; color:var(--bad); padding:10px 14px; border-radius:6px; }
svg.spark { color:var(--accent); vertical-align:middle; }
svg.bars .bar { fill:#7aa6e0; } svg.bars .bar.hot { fill:var(--bad); }
svg.bars .axis { stroke:#9aa3ae; } svg.bars .limit { stroke:var(--warn); stroke-dasharray:4 3; }
svg.bars .tick { font-size:10px; fill:var(--muted); }
svg.bars .mark { fill:var(--bad); }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:0 28px; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible,
  .dot:focus-visible { outline:2px solid var(--accent); outline-offset:2px; }
.toolbar { display:flex; gap:10px; align-items:center; flex-wrap:wrap; margin:8px 0; }
.toolbar input[type=search] { min-width:420px; padding:4px 8px; font:inherit; font-family:monospace; }
button { font:inherit; padding:3px 12px; border:1px solid #b8c0ca; border-radius:4px; background:#fff; cursor:pointer; }
button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
button:disabled { opacity:.5; cursor:default; }
tr.selected { background:#eef4fd; }
tr.diff td { background:#fff6e0; }
details.columns { display:inline-block; } details.columns > div { columns:3; max-width:900px; padding:6px 0; }
details.columns label { display:block; white-space:nowrap; font-size:12.5px; }
.chart { min-height:120px; margin:4px 0 18px; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(520px,1fr)); gap:8px 24px; }
.chart h3, .charts h3 { font-size:13px; margin:6px 0 2px; }
svg.scatter .axis { stroke:#9aa3ae; } svg.scatter .tick { font-size:10px; fill:var(--muted); }
svg.scatter .label { font-size:12px; fill:var(--fg); }
svg.scatter circle.trial { fill:var(--accent); fill-opacity:.65; }
.preview img { max-width:100%; max-height:600px; border:1px solid var(--line); }
.pager { display:flex; gap:14px; margin:8px 0; }
.lineage { display:flex; flex-wrap:wrap; gap:6px; align-items:center; margin:6px 0 12px; font-size:13px; }
.lineage .step { border:1px solid var(--line); border-radius:4px; padding:2px 8px; }
.lineage .arrow { color:var(--muted); }
.split { display:flex; max-width:520px; margin:6px 0; font-size:12px; color:#fff; border-radius:4px; overflow:hidden; }
.split span { background:var(--accent); padding:2px 6px; white-space:nowrap; overflow:hidden; }
.split span.canary { background:var(--warn); }
figure.chart-box { margin:0; }
ul.marks { margin:0 0 8px; padding-left:18px; font-size:12px; color:var(--warn); max-height:90px; overflow-y:auto; }
pre.log { max-height:70vh; overflow:auto; white-space:pre-wrap; overflow-wrap:anywhere; }
"""


# Vendored, served by this plane (cnai/ui/static): no CDN. ``defer`` keeps pages readable at once.
# The chart library only on pages that draw charts: a runs table need not parse 50 KB of it.
CHART_ASSETS = (
    '<link rel="stylesheet" href="/ui/static/uPlot.min.css"><script src="/ui/static/uPlot.iife.min.js" defer></script>'
)
SCRIPT = '<script src="/ui/static/cnai.js" defer></script>'


HOME = ("/", "overview")


@dataclass(frozen=True)
class Page:
    """What a page function returns: its title, body and the breadcrumbs above the title."""

    title: str
    body: Html
    crumbs: list[tuple[str, str]] = field(default_factory=list)
    charts: bool = False  # loads the chart library (run, comparison, deployment and monitor pages)


def document(title: str, body: object, crumbs: Sequence[tuple[str, str]] = (), *, charts: bool = True) -> str:
    """A whole HTML document; ``crumbs`` are (href, text) pairs shown above the title."""
    trail = " / ".join(link(href, text) for href, text in crumbs)
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{esc(title)} · cnai</title>{CHART_ASSETS if charts else ''}{SCRIPT}<style>{CSS}</style></head><body>"
        '<header><a class="brand" href="/">cnai</a><nav>'
        '<a href="/#experiments">Experiments</a><a href="/#models">Models</a>'
        '<a href="/#deployments">Deployments</a><a href="/#monitors">Monitors</a>'
        f'</nav><span class="ver">control plane {esc(__version__)}</span></header>'
        f'<main><div class="crumbs">{trail}</div><h1>{esc(title)}</h1>{esc(body)}</main></body></html>'
    )


def error_page(status: int, message: str) -> str:
    titles = {400: "Bad request", 404: "Not found"}
    body = Html(f'<p class="error">{esc(message)}</p><p><a href="/">Back to the overview</a></p>')
    return document(f"{status} {titles.get(status, 'Error')}", body, [HOME])
