"""The study page in the web UI, for a study tracked on a live cnai server: reached from the study's
run, its trials over time and params against value, the trials best first, everything escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import cnai.tune
from cnai.settings import Settings
from cnai.tune.driver import StudyResult
from tests.fixtures.servers import LiveServer, start_live_server
from tests.integration.tune.conftest import objective

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def studied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, StudyResult, httpx.Client]]:
    server = start_live_server(Settings(home=tmp_path_factory.mktemp("study-server")))
    driver_home: Path = tmp_path_factory.mktemp("study-driver")
    # A grid of 12: x in 0..5 (x = 3 raises, so two trials fail) by a label that is markup.
    space = {"x": {"type": "int", "low": 0, "high": 5}, "label": {"type": "categorical", "choices": [SCRIPT, "plain"]}}
    result = cnai.tune.run(
        objective("raises_on_three"), space, trials=12, workers=2, sampler="grid", pruner="none",
        study="paged", tracking_uri=server.url, settings=Settings(home=driver_home),
    )  # fmt: skip
    http = httpx.Client(base_url=server.url, timeout=30)
    yield server, result, http
    http.close()
    server.stop()


def _rows(page: str) -> list[str]:
    body = page.split("Trials, best first", 1)[1]
    return re.findall(r"<tr><td><a href=\"/ui/runs/[0-9a-f]+\">trial \d+</a>.*?</tr>", body)


def test_the_study_page_is_reached_from_the_study_run(studied: tuple[LiveServer, StudyResult, httpx.Client]) -> None:
    _, result, http = studied
    run_page = http.get(f"/ui/runs/{result.run_id}")
    assert run_page.status_code == 200
    assert f'href="/ui/studies/{result.run_id}"' in run_page.text


def test_the_study_page_shows_trials_best_first_with_charts(
    studied: tuple[LiveServer, StudyResult, httpx.Client],
) -> None:
    _, result, http = studied
    page = http.get(f"/ui/studies/{result.run_id}")
    assert page.status_code == 200
    text = page.text
    assert "Study paged" in text
    assert "10 complete, 2 failed" in text

    rows = _rows(text)
    assert len(rows) == 12
    values = [float(v) for row in rows[:10] for v in re.findall(r"<td class=num>([0-9.]+)</td>", row)]
    assert values == sorted(values, reverse=True)
    assert values[0] == result.best_value == 5.0
    assert all("failed" in row and "x=3 is not allowed here" in row for row in rows[10:])

    # the user's values are escaped everywhere: table cells, scatter tooltips, chart JSON
    assert ESCAPED in text
    assert SCRIPT not in text

    by_number = json.loads(re.search(r'id="data-by-number">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    assert len(by_number["x"]) == 10
    value_series, best_series = by_number["series"]
    assert value_series["pointsOnly"] is True
    assert best_series["values"] == [max(value_series["values"][: i + 1]) for i in range(10)]
    assert best_series["values"][-1] == 5.0
    assert 'id="data-by-time"' in text
    assert 'aria-label="x against value" data-dots="10"' in text
    assert 'aria-label="label against value" data-dots="10"' in text


def test_a_trial_run_links_to_its_study_and_other_runs_are_not_studies(
    studied: tuple[LiveServer, StudyResult, httpx.Client],
) -> None:
    _, result, http = studied
    trial_run = re.search(r'href="/ui/runs/([0-9a-f]+)">trial', http.get(f"/ui/studies/{result.run_id}").text)
    assert trial_run is not None
    child = trial_run.group(1)
    assert f'href="/ui/studies/{result.run_id}"' in http.get(f"/ui/runs/{child}").text
    as_study = http.get(f"/ui/studies/{child}")
    assert as_study.status_code == 404
    assert f"/ui/studies/{result.run_id}" in as_study.text

    plain = http.post(
        "/api/2.0/mlflow/runs/create", json={"experiment_id": "0", "run_name": SCRIPT, "start_time": 1}
    ).json()["run"]["info"]["run_id"]
    assert http.get(f"/ui/studies/{plain}").status_code == 404
    assert "/ui/studies/" not in http.get(f"/ui/runs/{plain}").text
    assert http.get("/ui/studies/" + "0" * 32).status_code == 404
    assert http.get("/ui/studies/not-a-run").status_code == 404
