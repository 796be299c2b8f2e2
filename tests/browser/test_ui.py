"""The web UI in Chromium against a live control plane filled through the stock mlflow client.

One plane for the module: an experiment of three runs with 60-step histories, one of which logs a
dataset and an MLflow 3 model registered as ``wine-model`` v1; a run with a hostile name; a
Deployment serving ``wine-model@champion`` with a Monitor and two stored windows. The tests use
the UI as a person would (type, check, click) and assert on the DOM the page ends with.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from cnai.monitoring.monitor.evaluate import WindowVerdict
from cnai.monitoring.monitor.store import Batch, ClosedWindow, MonitorStore, OutboxAction
from cnai.resources import SYSTEM, Document
from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, start_live_server

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

HOSTILE = "<img src=x onerror=alert(1)>"
STEPS = 60


@dataclass
class Plane:
    server: LiveServer
    experiment_id: str
    run_ids: list[str]  # lr 0.1, 0.2, 0.3; the last logged the model
    hostile_run: str
    model_id: str


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    home: Path = tmp_path_factory.mktemp("ui-browser")
    server = start_live_server(Settings(home=home))
    client = MlflowClient(server.url, registry_uri=server.url)
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    exp = client.create_experiment("wine-exp")
    run_ids = []
    for i in range(3):
        run = client.create_run(exp, run_name=f"trial-{i}")
        rid = run.info.run_id
        client.log_param(rid, "lr", str(0.1 * (i + 1)))
        client.log_param(rid, "depth", "4")
        base = int(time.time() * 1000)
        metrics = [
            mlflow.entities.Metric("loss", 2.0 / (1 + s * (i + 1) * 0.1), base + s * 100, s) for s in range(STEPS)
        ]
        metrics += [
            mlflow.entities.Metric("accuracy", 0.5 + 0.1 * i + s / 600, base + s * 100, s) for s in range(STEPS)
        ]
        client.log_batch(rid, metrics=metrics)
        run_ids.append(rid)
    frame = pd.DataFrame({"alcohol": [12.1, 13.2, 14.0, 12.8], "hue": [1.0, 0.9, 1.1, 0.8], "label": [0, 1, 1, 0]})
    with mlflow.start_run(run_id=run_ids[2]):
        mlflow.log_input(mlflow.data.from_pandas(frame, name="wine-train"), context="training")
        mlflow.log_text("a,b\n1,2\n3,4\n", "data/head.csv")
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(frame[["alcohol", "hue"]], frame["label"]),
            name="model",
            registered_model_name="wine-model",
            pip_requirements=["scikit-learn"],  # no requirement inference: it runs a slow subprocess
        )
    for rid in run_ids:
        client.set_terminated(rid)
    client.set_registered_model_alias("wine-model", "champion", "1")
    hostile = client.create_run(exp, run_name=HOSTILE)
    client.log_param(hostile.info.run_id, "lr", HOSTILE)
    client.set_terminated(hostile.info.run_id)

    state = server.server_app_plane()
    spec = {"model": "models:/wine-model@champion"}
    deployment, _ = state.resources.apply(Document("cnai.io/v1", "Deployment", "wine", spec), principal=SYSTEM)
    status = {
        "phase": "Ready",
        "model": {"uri": spec["model"], "resolved": "models:/wine-model/1", "version": "1"},
        "replicas": {"desired": 1, "ready": 1, "updated": 1},
        "traffic": [
            {
                "t": int(time.time() * 1000) - (5 - i) * 10_000,
                "target": "primary",
                "rps": 20.0 + i,
                "errorRate": 0.0,
                "p50Ms": 3.0,
                "p95Ms": 8.0,
                "p99Ms": 12.0 + i,
            }
            for i in range(5)
        ],
    }
    state.resources.set_status("Deployment", "wine", status, deployment.generation)
    monitor_spec = {
        "target": {"deployment": "wine"},
        "reference": {"file": str(home / "reference.csv")},
        "window": {"count": 100},
        "tests": {"driftShareThreshold": 0.5},
    }
    state.resources.apply(Document("cnai.io/v1", "Monitor", "wine-drift", monitor_spec), principal=SYSTEM)
    start = int(time.time() * 1000) - 600_000
    windows = [_window(1, start, 0.0, []), _window(2, start + 120_000, 1.0, ["alcohol", "hue"])]
    MonitorStore(state.engine).write_batch("ui-browser", Batch(windows=windows), now=start + 300_000)
    yield Plane(server, exp, run_ids, hostile.info.run_id, info.model_id)
    server.stop()


def _window(seq: int, start: int, share: float, drifted: list[str]) -> ClosedWindow:
    features = {f: {"drifted": f in drifted, "score": 0.4 if f in drifted else 0.02} for f in ("alcohol", "hue")}
    verdict = WindowVerdict(100, start, start + 60_000, share, bool(drifted), features, {})
    actions = [OutboxAction(f"wine-drift/{seq}/0", "wine-drift", seq, 0, "alert", {}, {})] if drifted else []
    return ClosedWindow("wine-drift", seq, 1, verdict, bool(drifted), actions, [])


# -- helpers ------------------------------------------------------------------------------------------


def wait_for(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # the element may not exist yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        time.sleep(0.1)


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def visit(driver: Any, plane: Plane, path: str) -> None:
    driver.get(plane.server.url + path)
    wait_for(lambda: driver.find_element("tag name", "body").get_attribute("data-ready") == "1")


def no_alert(driver: Any) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return True
    return False


def shoot(driver: Any, shots: Path, name: str) -> None:
    driver.save_screenshot(str(shots / f"{name}.png"))
    assert (shots / f"{name}.png").stat().st_size > 10_000  # a real picture, not a blank


# -- tests ----------------------------------------------------------------------------------------------


def test_run_page_draws_each_metric_with_axes_and_hover_values(browser: Any, plane: Plane, shots: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    visit(browser, plane, f"/ui/runs/{plane.run_ids[2]}")
    charts = wait_for(lambda: [c for c in css(browser, "[data-metric-chart]") if c.get_attribute("data-drawn")])
    charts = wait_for(
        lambda: len(css(browser, "[data-metric-chart][data-drawn]")) == 2 and css(browser, "[data-metric-chart]")
    )
    for chart in charts:
        assert chart.get_attribute("data-points") == str(STEPS)
        assert len(chart.find_elements("css selector", "canvas")) == 1
        assert len(chart.find_elements("css selector", ".u-axis")) == 2  # x (step) and y
    # Hovering the middle of a chart shows that step's value in the legend.
    loss = next(c for c in charts if c.get_attribute("data-metric-chart") == "loss")
    over = loss.find_element("css selector", ".u-over")
    ActionChains(browser).move_to_element(over).perform()
    value = wait_for(lambda: loss.find_elements("css selector", ".u-series .u-value")[1].text not in ("", "--"))
    assert value
    text = browser.find_element("tag name", "main").text
    assert "wine-train" in text  # dataset input
    assert "wine-model v1" in text  # the version it produced
    shoot(browser, shots, "run-page")


def test_search_box_filters_with_the_api_grammar(browser: Any, plane: Plane) -> None:
    visit(browser, plane, f"/ui/experiments/{plane.experiment_id}")
    assert len(css(browser, "tr.run-row")) == 4
    box = browser.find_element("id", "filter")
    box.send_keys("metrics.accuracy > 0.75 and params.depth = '4'")
    box.submit()
    wait_for(lambda: "filter=" in browser.current_url)
    names = sorted(a.text for a in css(browser, "tr.run-row td:nth-child(2) a"))
    assert names == ["trial-2"]  # accuracy ends at 0.5+0.1*i+59/600
    box = browser.find_element("id", "filter")
    box.clear()
    box.send_keys("params.lr >>")
    box.submit()
    assert "expected" in wait_for(lambda: browser.find_element("css selector", ".error").text)


def test_selected_runs_are_compared_on_one_chart(browser: Any, plane: Plane, shots: Path) -> None:
    visit(browser, plane, f"/ui/experiments/{plane.experiment_id}")
    for rid in plane.run_ids:
        browser.find_element("css selector", f"input[name=run][value='{rid}']").click()
    button = browser.find_element("id", "compare-button")
    assert button.text == "Compare 3 selected"
    button.click()
    chart = wait_for(lambda: browser.find_element("css selector", "#compare-chart[data-drawn]"))
    assert chart.get_attribute("data-series") == "3"
    assert len(chart.find_elements("css selector", ".u-legend .u-series")) == 4  # x plus one per run
    legend = [e.text for e in chart.find_elements("css selector", ".u-legend .u-series .u-label")]
    assert sorted(legend[1:]) == ["trial-0", "trial-1", "trial-2"]
    shoot(browser, shots, "compare-step")
    # Wall-clock x axis, log scale and smoothing redraw the same three runs.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "cmp-metric")).select_by_visible_text("loss")
    Select(browser.find_element("id", "cmp-x")).select_by_value("wall")
    browser.find_element("id", "cmp-log").click()
    browser.execute_script(
        "const s=document.getElementById('cmp-smooth'); s.value='0.6'; s.dispatchEvent(new Event('input'));"
    )
    wait_for(lambda: browser.find_element("id", "cmp-smooth-value").text == "0.60")
    chart = browser.find_element("id", "compare-chart")
    assert chart.get_attribute("data-series") == "3"
    assert int(chart.get_attribute("data-points")) >= STEPS
    shoot(browser, shots, "compare-wall-log-smoothed")
    # Params side by side: lr differs (highlighted), depth does not.
    diff_rows = [r.find_element("css selector", "th").text for r in css(browser, "#params-table tr.diff")]
    assert diff_rows == ["lr"]
    # Scatter: one dot per run.
    assert browser.find_element("id", "scatter").get_attribute("data-dots") == "3"
    assert len(css(browser, "#scatter circle.dot")) == 3


def test_mlflow_fragment_urls_land_on_the_matching_page(browser: Any, plane: Plane) -> None:
    rid = plane.run_ids[0]
    browser.get(f"{plane.server.url}/#/experiments/{plane.experiment_id}/runs/{rid}")
    wait_for(lambda: browser.current_url.endswith(f"/ui/runs/{rid}"))
    assert browser.find_element("tag name", "h1").text == "trial-0"
    browser.get(f"{plane.server.url}/#/experiments/{plane.experiment_id}")
    wait_for(lambda: browser.current_url.endswith(f"/ui/experiments/{plane.experiment_id}"))
    browser.get(f"{plane.server.url}/#/models/wine-model/versions/1")
    wait_for(lambda: browser.current_url.endswith("/ui/models/wine-model/versions/1"))
    assert browser.find_element("tag name", "h1").text == "wine-model v1"


def test_lineage_links_lead_both_ways(browser: Any, plane: Plane, shots: Path) -> None:
    def follow(text: str) -> None:
        link = browser.find_element("css selector", "nav.lineage").find_element("partial link text", text)
        link.click()
        wait_for(lambda: browser.find_element("tag name", "body").get_attribute("data-ready") == "1")

    visit(browser, plane, f"/ui/runs/{plane.run_ids[2]}")
    follow("dataset wine-train")
    assert browser.find_element("tag name", "h1").text == "Dataset wine-train"
    browser.find_element("link text", "trial-2").click()  # dataset -> the runs that used it
    wait_for(lambda: browser.current_url.endswith(f"/ui/runs/{plane.run_ids[2]}"))
    follow("model model")
    assert browser.current_url.endswith(f"/ui/logged-models/{plane.model_id}")
    browser.find_element("partial link text", "MLmodel").click()  # artifact browser: the YAML preview
    assert "flavors:" in wait_for(lambda: browser.find_element("css selector", "#preview pre").text)
    browser.back()
    follow("wine-model v1")
    follow("deployment wine")
    assert browser.find_element("tag name", "h1").text == "wine"
    latency = wait_for(lambda: browser.find_element("css selector", "#chart-latency[data-drawn]"))
    assert latency.get_attribute("data-series") == "3"  # p50, p95, p99 of the primary
    assert latency.get_attribute("data-points") == "5"
    shoot(browser, shots, "deployment-page")
    browser.find_element("link text", "wine-drift").click()
    wait_for(lambda: browser.current_url.endswith("/ui/monitors/wine-drift"))
    chart = wait_for(lambda: browser.find_element("css selector", "#chart-drift-share[data-drawn]"))
    assert chart.get_attribute("data-series") == "2"  # drift share and the threshold
    assert browser.find_element("css selector", "#chart-feature-scores").get_attribute("data-series") == "2"
    shoot(browser, shots, "monitor-page")
    browser.find_element("link text", "2").click()  # window 2 in the windows table -> its report
    wait_for(lambda: browser.current_url.endswith("/ui/monitors/wine-drift/windows/2"))
    assert "alcohol" in browser.find_element("tag name", "main").text
    # ... and back from the deployment to the version and its run.
    visit(browser, plane, "/ui/deployments/wine")
    browser.find_element("link text", "wine-model v1").click()
    follow("run ")
    assert browser.current_url.endswith(f"/ui/runs/{plane.run_ids[2]}")


def test_hostile_run_name_is_shown_as_text(browser: Any, plane: Plane, shots: Path) -> None:
    visit(browser, plane, f"/ui/experiments/{plane.experiment_id}")
    assert no_alert(browser)
    names = [a.text for a in css(browser, "tr.run-row td:nth-child(2) a")]
    assert HOSTILE in names
    assert not css(browser, "main img")  # the name did not become an element
    visit(browser, plane, f"/ui/runs/{plane.hostile_run}")
    assert no_alert(browser)
    assert browser.find_element("tag name", "h1").text == HOSTILE
    visit(browser, plane, f"/ui/compare?run={plane.hostile_run}&run={plane.run_ids[0]}")
    wait_for(lambda: browser.find_element("css selector", "#compare-chart[data-drawn]"))
    assert no_alert(browser)
    assert not css(browser, "main img")
    assert HOSTILE in browser.find_element("id", "params-table").text
    shoot(browser, shots, "hostile-name")


def test_keyboard_reaches_search_and_selection(browser: Any, plane: Plane) -> None:
    from selenium.webdriver.common.keys import Keys

    visit(browser, plane, f"/ui/experiments/{plane.experiment_id}")
    # Tab from the top of the page: the header and breadcrumb links, then the search box.
    ids = []
    for _ in range(12):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        ids.append(browser.switch_to.active_element.get_attribute("id"))
        if ids[-1] == "filter":
            break
    assert ids[-1] == "filter", ids
    # A run's checkbox toggles with the space bar, as a native control does.
    first = css(browser, "input[name=run]")[0]
    browser.execute_script("arguments[0].focus()", first)
    browser.switch_to.active_element.send_keys(Keys.SPACE)
    assert browser.find_element("id", "compare-button").text == "Compare 1 selected"
