"""The runs page's paging: keyset pages in the default order, offset pages for a chosen order.

Against a real SQLite store: every run appears exactly once, in the API's order, whatever the
page cuts; runs that share a start time (batch jobs) are split between pages correctly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cnai.errors import InvalidArgument
from cnai.server.app import ControlPlane, build_plane
from cnai.settings import Settings
from cnai.tracking.metrics import MetricPoint
from cnai.ui import runs_list

RUNS = 250


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, str]]:
    home: Path = tmp_path_factory.mktemp("runs-list")
    plane = build_plane(Settings(home=home))
    exp = plane.experiments.create("paging", None, [])
    for i in range(RUNS):
        # Groups of five runs share a start time: the keyset must break ties by run id.
        run = plane.runs.create(exp, "u", 1_700_000_000_000 + (i // 5) * 1000, [], f"run-{i:03d}")
        plane.runs.log_batch(run["info"]["run_id"], [MetricPoint("score", float(i % 17), 0)], [("i", str(i))], [])
    yield plane, exp
    plane.audit.close()
    plane.engine.dispose()


def _walk(plane: ControlPlane, exp: str, q: runs_list.Query) -> list[str]:
    names: list[str] = []
    while True:
        found, after, token = runs_list.search_page(plane, exp, q)
        names += [r["info"]["run_name"] for r in found]
        if not (after or token):
            return names
        q = runs_list.Query(filter=q.filter, order_by=q.order_by, after=after, page_token=token)


def _api_order(plane: ControlPlane, exp: str, filter_string: str | None, order: list[str] | None) -> list[str]:
    found, _ = plane.runs.search([exp], filter_string, "ACTIVE_ONLY", 1000, order, None)
    return [r["info"]["run_name"] for r in found]


def test_keyset_pages_cover_every_run_once_in_the_api_order(filled: tuple[ControlPlane, str]) -> None:
    plane, exp = filled
    names = _walk(plane, exp, runs_list.Query())
    assert len(names) == RUNS
    assert names == _api_order(plane, exp, None, None)


def test_keyset_pages_with_a_filter(filled: tuple[ControlPlane, str]) -> None:
    plane, exp = filled
    names = _walk(plane, exp, runs_list.Query(filter="metrics.score >= 8"))
    assert names == _api_order(plane, exp, "metrics.score >= 8", None)
    assert 100 < len(names) < RUNS


def test_a_chosen_order_pages_by_offset(filled: tuple[ControlPlane, str]) -> None:
    plane, exp = filled
    q = runs_list.Query(order_by="metrics.score DESC")
    _, after, token = runs_list.search_page(plane, exp, q)
    assert not after
    assert token
    names = _walk(plane, exp, q)
    assert names == _api_order(plane, exp, None, ["metrics.score DESC"])


def test_a_forged_cursor_is_refused(filled: tuple[ControlPlane, str]) -> None:
    plane, exp = filled
    with pytest.raises(InvalidArgument, match="cursor"):
        runs_list.search_page(plane, exp, runs_list.Query(after="1' OR 1=1"))
