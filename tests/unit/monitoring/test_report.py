"""The HTML report is one self-contained file: plots inline, nothing fetched, names escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from cnai.monitoring.drift import compare
from cnai.monitoring.io import from_arrays
from cnai.monitoring.report import render_html, write_html


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href") and not (v or "").startswith("#")]


def _report():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    ref = from_arrays({"x": rng.normal(size=800), "<b>k": rng.choice(["a", "b"], 800).tolist()}, name="ref.csv")
    cur = from_arrays({"x": rng.normal(2, size=800), "<b>k": rng.choice(["a", "c"], 800).tolist()}, name="cur.csv")
    return compare(ref, cur)


def test_html_is_self_contained_with_a_plot_per_feature(tmp_path: Path) -> None:
    report = _report()
    path = write_html(report, tmp_path / "sub" / "r.html")
    text = path.read_text()
    parser = _Collector()
    parser.feed(text)
    assert "script" not in parser.tags
    assert "link" not in parser.tags
    assert "img" not in parser.tags
    assert parser.urls == []  # nothing to fetch: opens offline
    assert "http" not in text
    assert parser.tags.count("svg") == len(report.columns) == 2
    assert "Dataset drift detected" in text
    assert "&lt;b&gt;k" in text
    assert "<b>k" not in text


def test_html_lists_quality_findings() -> None:
    text = render_html(_report())
    assert "Data quality" in text
    assert re.search(r"1 values, \d+ rows", text)  # the unseen category "c"
