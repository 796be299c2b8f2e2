"""The study page of `cnai tune` in Chromium: both history charts drawn (trial values as dots, the
best so far as a line), a scatter per param, a hostile param value shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cnai.tune
from cnai.settings import Settings
from cnai.tune.driver import StudyResult
from tests.browser.test_ui import css, no_alert, shoot, wait_for
from tests.fixtures.servers import LiveServer, start_live_server
from tests.integration.tune.conftest import objective

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, StudyResult]]:
    server = start_live_server(Settings(home=tmp_path_factory.mktemp("study-browser")))
    space = {"x": {"type": "float", "low": -4, "high": 4}, "tag": {"type": "categorical", "choices": [HOSTILE, "b"]}}
    result = cnai.tune.run(
        objective("quadratic"), space, trials=16, workers=2, pruner="none", seed=3, study="browsed",
        tracking_uri=server.url, settings=Settings(home=tmp_path_factory.mktemp("study-browser-driver")),
    )  # fmt: skip
    yield server, result
    server.stop()


def test_study_page_draws_history_and_scatters(
    browser: Any, study: tuple[LiveServer, StudyResult], shots: Path
) -> None:
    server, result = study
    browser.get(f"{server.url}/ui/studies/{result.run_id}")
    wait_for(lambda: browser.find_element("tag name", "body").get_attribute("data-ready") == "1")
    charts = wait_for(lambda: len(css(browser, "[data-inline-chart][data-drawn]")) == 2 and css(browser, ".chart"))
    for chart in charts:
        assert chart.get_attribute("data-series") == "2"  # the values and the best so far
        assert chart.get_attribute("data-points") == "16"
        assert len(chart.find_elements("css selector", "canvas")) == 1
    scatters = css(browser, "svg.scatter")
    assert {s.get_attribute("aria-label") for s in scatters} == {"x against value", "tag against value"}
    assert all(s.get_attribute("data-dots") == "16" for s in scatters)
    assert HOSTILE in browser.find_element("tag name", "main").text  # shown as text, never run
    assert no_alert(browser)
    shoot(browser, shots, "study-page")
