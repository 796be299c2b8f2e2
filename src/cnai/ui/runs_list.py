"""The runs page of an experiment: search, column choice, keyset pages and multi-select.

The search box takes the API's filter grammar (``metrics.rmse < 1 and params.lr = '0.1'``) and
compiles it with the same code as ``runs/search``. Pages in the default order (newest first) are
cut by keyset, ``start_time`` and ``run_uuid`` of the last row, so page 100 of 10,000 runs costs
what page 1 does; a chosen ``order_by`` pages by offset, as the API does.

The table is a form: checking runs and pressing *Compare* opens the comparison with no script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from sqlalchemy import and_, or_, select

from cnai.db.engine import read_tx
from cnai.db.schema import runs
from cnai.errors import InvalidArgument
from cnai.tracking import run_messages, search
from cnai.ui.components import Html, duration, esc, join, link, number, pairs, phase_pill, scroll, section, short, when
from cnai.ui.layout import HOME, Page
from cnai.ui.pages import unknown_is_missing

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

PAGE = 100
DEFAULT_COLUMNS = 8  # params and metrics shown as columns, each, when none are chosen
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_AFTER = re.compile(r"^(-?\d+)\.([0-9a-fA-F]{1,64})$")


@dataclass(frozen=True)
class Query:
    """What the page was asked for: all optional, all from the query string."""

    filter: str = ""
    order_by: str = ""
    after: str = ""  # keyset cursor "<start_time>.<run_id>" (default order)
    page_token: str = ""  # offset token (a chosen order)
    columns: tuple[str, ...] = ()  # "params.lr", "metrics.loss"

    def href(self, base: str, **changes: Any) -> str:
        values = {**self.__dict__, **changes}
        items = [(k, v) for k, v in values.items() if k != "columns" and v]
        items += [("col", c) for c in values["columns"]]
        return base + ("?" + urlencode(items) if items else "")


def query_from(params: Any) -> Query:
    return Query(
        filter=params.get("filter", "").strip(),
        order_by=params.get("order_by", "").strip(),
        after=params.get("after", ""),
        page_token=params.get("page_token", ""),
        columns=tuple(c for c in params.getlist("col") if c.startswith(("params.", "metrics."))),
    )


def search_page(plane: ControlPlane, experiment_id: str, q: Query) -> tuple[list[dict[str, Any]], str, str]:
    """One page of runs and the (after, page_token) that opens the next page; both empty at the end."""
    where = [
        runs.c.experiment_id == int(experiment_id),
        runs.c.lifecycle_stage == "active",
        *search.runs_where(q.filter or None),
    ]
    order = [q.order_by] if q.order_by else None
    offset = 0
    if order is None:
        # Keyset: the default order is start_time DESC, run_uuid ASC (runs_order_by's tie-break).
        if q.after:
            m = _AFTER.match(q.after)
            if m is None:
                raise InvalidArgument("Invalid page cursor: it is not one this page issued")
            start, rid = int(m.group(1)), m.group(2)
            where.append(or_(runs.c.start_time < start, and_(runs.c.start_time == start, runs.c.run_uuid > rid)))
    else:
        offset = search.decode_page_token(q.page_token or None)
    query = (
        select(*run_messages.RUN_COLUMNS)
        .where(*where)
        .order_by(*search.runs_order_by(order))
        .limit(PAGE + 1)
        .offset(offset)
    )
    with read_tx(plane.engine) as conn:
        rows = list(conn.execute(query).mappings())
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        found = run_messages.load(conn, rows)
    if not more:
        return found, "", ""
    if order is None:
        last = rows[-1]
        return found, f"{last['start_time'] or 0}.{last['run_uuid']}", ""
    return found, "", search.encode_page_token(offset + PAGE)


def key_expr(key: str) -> str:
    """A key as the search grammar wants it: bare when simple, else backtick- or double-quoted."""
    if _SIMPLE_KEY.match(key):
        return key
    if "`" not in key:
        return f"`{key}`"
    return '"' + key.replace('"', '""') + '"'


def experiment(plane: ControlPlane, experiment_id: str, q: Query) -> Page:
    exp = unknown_is_missing(lambda: plane.experiments.get(experiment_id))
    eid = exp["experiment_id"]
    base = f"/ui/experiments/{eid}"
    found, after, token = search_page(plane, eid, q)
    param_keys = sorted({p["key"] for r in found for p in r["data"]["params"]})
    metric_keys = sorted({m["key"] for r in found for m in r["data"]["metrics"]})
    available = [f"params.{k}" for k in param_keys] + [f"metrics.{k}" for k in metric_keys]
    chosen = list(q.columns) or (
        [f"params.{k}" for k in param_keys[:DEFAULT_COLUMNS]] + [f"metrics.{k}" for k in metric_keys[:DEFAULT_COLUMNS]]
    )

    def sort_header(label: str, field: str) -> Html:
        desc, asc = f"{field} DESC", f"{field} ASC"
        target, arrow = (asc, " ▼") if q.order_by == desc else (desc, " ▲" if q.order_by == asc else "")
        return link(q.href(base, order_by=target, after="", page_token=""), label + arrow)

    head: list[object] = [
        Html('<input type="checkbox" id="select-all" aria-label="select all runs on this page">'),
        sort_header("run", "attributes.run_name"),
        "status",
        sort_header("start", "attributes.start_time"),
        "duration",
    ]
    for col in chosen:
        kind, key = col.split(".", 1)
        head.append(sort_header(key, f"{kind}.{key_expr(key)}"))
    numeric = {i for i, c in enumerate(chosen, start=len(head) - len(chosen)) if c.startswith("metrics.")}
    body_rows = []
    for r in found:
        info, data = r["info"], r["data"]
        values = {f"params.{p['key']}": p["value"] for p in data["params"]}
        values |= {f"metrics.{m['key']}": m["value"] for m in data["metrics"]}
        name = info["run_name"] or info["run_id"]
        cells: list[object] = [
            Html(
                f'<input type="checkbox" name="run" value="{esc(info["run_id"])}" form="runs-form"'
                f' aria-label="select {esc(name)}">'
            ),
            link(f"/ui/runs/{info['run_id']}", name),
            phase_pill(info["status"]),
            when(info["start_time"]),
            duration(info["start_time"], info.get("end_time")),
        ]
        for col in chosen:
            v = values.get(col, "")
            cells.append(number(v) if col.startswith("metrics.") and v != "" else short(v, 40))
        body_rows.append(cells)
    table_html = _table(head, body_rows, numeric)
    search_form = Html(
        f'<form class="toolbar" method="get" action="{esc(base)}" role="search">'
        f'<label for="filter">Search</label>'
        f'<input type="search" id="filter" name="filter" value="{esc(q.filter)}" '
        'placeholder="metrics.accuracy > 0.9 and params.lr = \'0.1\'" aria-describedby="filter-help">'
        + (f'<input type="hidden" name="order_by" value="{esc(q.order_by)}">' if q.order_by else "")
        + "".join(f'<input type="hidden" name="col" value="{esc(c)}">' for c in q.columns)
        + '<button type="submit">Search</button>'
        + (link(q.href(base, filter="", after="", page_token=""), "clear") if q.filter else "")
        + '</form><p id="filter-help" class="muted small">MLflow\'s filter grammar: <code>metrics.</code>, '
        "<code>params.</code>, <code>tags.</code>, <code>attributes.</code> with = != &lt; &gt; LIKE ILIKE IN, "
        "joined by <code>and</code>.</p>"
    )
    column_boxes = "".join(
        f'<label><input type="checkbox" name="col" value="{esc(c)}"{_checked(c in chosen)}> {esc(c)}</label>'
        for c in available
    )
    columns_form = Html(
        f'<form method="get" action="{esc(base)}" class="toolbar"><details class="columns"><summary>Columns'
        f" ({len(chosen)} of {len(available)})</summary><div>{column_boxes}</div>"
        + (f'<input type="hidden" name="filter" value="{esc(q.filter)}">' if q.filter else "")
        + (f'<input type="hidden" name="order_by" value="{esc(q.order_by)}">' if q.order_by else "")
        + '<button type="submit">Show columns</button></details></form>'
    )
    compare_form = Html(
        '<form id="runs-form" method="get" action="/ui/compare" class="toolbar">'
        '<button type="submit" id="compare-button" class="primary">Compare selected</button>'
        '<span class="muted small">check runs in the table (across this page) to compare them</span></form>'
    )
    pager = [link(q.href(base, after="", page_token=""), "first page")] if (q.after or q.page_token) else []
    if after or token:
        pager.append(
            Html(
                link(q.href(base, after=after, page_token=token), "next page →").replace("<a ", '<a id="next-page" ', 1)
            )
        )
    note = f"{len(found)} runs on this page" + (", more on the next" if after or token else "")
    body = join(
        [
            pairs(
                {
                    "id": eid,
                    "artifact location": exp["artifact_location"],
                    "created": when(exp["creation_time"]),
                    **{t["key"]: short(t["value"]) for t in exp["tags"] if not t["key"].startswith("mlflow.")},
                }
            ),
            section(
                "Runs",
                join(
                    [
                        search_form,
                        Html('<div class="toolbar">'),
                        columns_form,
                        compare_form,
                        Html("</div>"),
                        Html(f'<p class="muted small">sorted by <code>{esc(q.order_by)}</code></p>')
                        if q.order_by
                        else "",
                        scroll(table_html),
                        Html(f'<nav class="pager" aria-label="pages">{join(pager)}</nav>'),
                    ]
                ),
                note=note,
            ),
        ]
    )
    return Page(exp["name"], body, [HOME, ("/#experiments", "experiments")])


def _checked(flag: bool) -> str:
    return " checked" if flag else ""


def _table(head: list[object], rows: list[list[object]], numeric: set[int]) -> Html:
    th = "".join(f"<th{' class=num' if i in numeric else ''}>{esc(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        '<tr class="run-row">'
        + "".join(f"<td{' class=num' if i in numeric else ''}>{esc(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(head)}" class="muted">no runs match</td></tr>'
    return Html(f'<table id="runs-table"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>')


def experiment_href(experiment_id: str) -> str:
    return "/ui/experiments/" + quote(str(experiment_id), safe="")
