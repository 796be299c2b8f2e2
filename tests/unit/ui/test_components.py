"""HTML building blocks: escaping by construction, tables, values, inline SVG charts."""

from __future__ import annotations

import math
import re

from cnai.ui.components import (
    Html,
    bar_chart,
    duration,
    esc,
    join,
    link,
    number,
    pairs,
    span_of,
    sparkline,
    table,
    when,
)
from cnai.ui.layout import document, error_page

SCRIPT = "<script>alert(1)</script>"


def test_esc_escapes_text_and_keeps_built_markup() -> None:
    assert esc(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert esc("a\"b'c&") == "a&quot;b&#x27;c&amp;"
    assert esc(None) == ""
    assert esc(Html("<b>x</b>")) == "<b>x</b>"
    # Concatenating two Html values gives a plain str, which is escaped again: never trusted.
    assert esc(Html("<b>") + Html("</b>")) == "&lt;b&gt;&lt;/b&gt;"


def test_tables_links_and_pairs_escape_every_user_value() -> None:
    html = table([SCRIPT], [[SCRIPT, link("/x?a=1&b=2", SCRIPT)]]) + pairs({SCRIPT: SCRIPT})
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") == 5
    assert 'href="/x?a=1&amp;b=2"' in html
    assert "no rows" in table(["a", "b"], [], empty="no rows")


def test_join_escapes_parts_but_not_markup() -> None:
    assert join(["<a>", Html("<br>"), 3], " ") == "&lt;a&gt; <br> 3"


def test_numbers_times_and_durations_read_well() -> None:
    assert number(0.123456789) == "0.1235"
    assert number("NaN") == "NaN"
    assert number(math.inf) == "inf"
    assert number(None) == "-"
    assert number(7) == "7"
    assert when(None) == "-"
    assert when(0) == "-"
    assert re.fullmatch(r'<span class="nw">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</span>', when(1_700_000_000_000))
    assert duration(0, 1500) == "1.5s"
    assert duration(0, 125_000) == "2m 5s"
    assert duration(0, 7_380_000) == "2h 3m"
    assert duration(5, None) == "-"
    same_day = span_of(1_700_000_000_000, 1_700_000_060_000)
    assert same_day.count("-") == 2  # the date once


def test_sparkline_skips_non_finite_points_and_draws_nothing_without_data() -> None:
    svg = sparkline([1.0, "NaN", 2.0, "Infinity", 3.0])
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None
    assert len(points.group(1).split()) == 3
    assert "3 points" in svg
    assert sparkline(["NaN"]) == ""
    assert sparkline([]) == ""
    flat = sparkline([2.0, 2.0])  # a constant metric is a flat line, not a division by zero
    assert "<polyline" in flat


def test_bar_chart_marks_breached_bars_and_the_threshold() -> None:
    svg = bar_chart([("w1", 0.1, False), ("w2", 0.9, True), ("w3 <x>", None, False)], threshold=0.5)
    assert svg.count('class="bar"') == 2
    assert svg.count('class="bar hot"') == 1
    assert svg.count('class="mark"') == 1  # breached windows are marked even at zero height
    assert 'class="limit"' in svg
    assert "w3 &lt;x&gt;" in svg
    assert "no windows" in bar_chart([])


def test_document_and_error_page_escape_titles_and_need_no_network() -> None:
    html = document(SCRIPT, Html("<p>body</p>"), [("/", SCRIPT)])
    assert SCRIPT not in html
    assert "<p>body</p>" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)  # no CDN, fonts or scripts to fetch
    # Scripts only from this plane (the vendored chart library and cnai.js), never inline.
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/ui/static/uPlot.iife.min.js" defer>',
        '<script src="/ui/static/cnai.js" defer>',
    ]
    plain = document("runs", Html("<p>table</p>"), charts=False)
    assert re.findall(r"<script[^>]*>", plain) == ['<script src="/ui/static/cnai.js" defer>']
    assert SCRIPT not in error_page(404, SCRIPT)
