"""The deployment and monitor pages in Chromium, driven by a real ``cnai up``.

Nothing is written into the stores by hand: a ``cnai up`` child process (its own CNAI_HOME and
port) gets a model registered with the stock mlflow client, a Deployment with a canary and a
Monitor applied with ``cnai apply -f``, and real traffic through the deployment's router. Its
controllers start the replicas, record their events, sample the router's traffic and close the
monitor's windows; the browser then checks what a person would look at: replicas and events,
the traffic charts drawn, a replica's log, the monitor's windows and charts, and the lineage
links from the model version to the deployment to the monitor and its window reports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from tests.fixtures.servers import free_port
from tests.fixtures.serving_models import FEATURES, save_logistic, training_frame

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

MODEL = "e2e-wine"
DEPLOYMENT = "e2e"
MONITOR = "e2e-drift"
WINDOW_ROWS = 20
REQUESTS = 2 * WINDOW_ROWS + 10  # two closed windows, whatever the canary takes

SPECS = """\
apiVersion: cnai.io/v1
kind: Deployment
metadata: {{name: {deployment}}}
spec:
  model: models:/{model}@champion
  replicas: {{min: 1, max: 2}}
  canary: {{model: models:/{model}/2, percent: 30}}
---
apiVersion: cnai.io/v1
kind: Monitor
metadata: {{name: {monitor}}}
spec:
  target: {{deployment: {deployment}}}
  reference: {{file: {reference}}}
  window: {{count: {rows}}}
  tests:
    driftShareThreshold: 0.5
    performance: {{task: classification, minLabels: 5, thresholds: {{accuracy: 0.5}}}}
"""


@dataclass
class Plane:
    url: str
    home: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def cnai(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cnai.cli.main", *args, "--tracking-uri", self.url],
            env=_env(self.home),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/v1/resources/{kind}/{name}", timeout=10)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the controllers stop their replicas first
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _env(home: Path) -> dict[str, str]:
    """The test's environment without the user's cnai and mlflow settings: a private plane."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNAI_", "MLFLOW_TRACKING"))}
    return {**env, "CNAI_HOME": str(home)}


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # an element or a status field may not exist yet
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def start_plane(home: Path) -> Plane:
    port = free_port()
    log = home / "up.log"
    cmd = [sys.executable, "-m", "cnai.cli.main", "up", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=log.open("wb"), stderr=subprocess.STDOUT)
    plane = Plane(f"http://127.0.0.1:{port}", home, proc, log)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"cnai up exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{plane.url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(healthy, 90, "cnai up to answer")
    except BaseException:
        plane.stop()
        raise
    return plane


def labelled_windows(plane: Plane) -> int:
    answer = httpx.get(f"{plane.url}/api/v1/monitors/{MONITOR}/windows", timeout=10).json()
    return sum(1 for w in answer["windows"] if (w.get("performance") or {}).get("accuracy") is not None)


def busy_samples(plane: Plane) -> int:
    """How many of the router's traffic samples saw requests (``status.traffic``, primary target)."""
    traffic = plane.resource("deployments", DEPLOYMENT)["status"].get("traffic") or []
    return sum(1 for s in traffic if s["target"] == "primary" and s["rps"] > 0)


def send_traffic(plane: Plane, url: str, requests: int, seed: int) -> list[str]:
    """One row per request through the router, over the Open Inference Protocol, then the true
    labels posted as feedback by request id; the targets that answered."""
    frame, labels = training_frame(requests, seed=seed)
    targets, feedback = [], []
    with httpx.Client(timeout=60, trust_env=False) as client:
        for i, row in enumerate(frame.itertuples(index=False)):
            values = zip(FEATURES, row, strict=True)
            request_id = f"e2e-{seed}-{i}"
            body = {
                "id": request_id,
                "inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [float(v)]} for f, v in values],
            }
            answer = client.post(f"{url}/v2/models/{DEPLOYMENT}/infer", json=body, headers={"x-request-id": request_id})
            assert answer.status_code == 200, answer.text
            targets.append(answer.headers["x-cnai-target"])
            feedback.append({"request_id": request_id, "label": int(labels[i])})
        posted = client.post(f"{plane.url}/api/v1/feedback", json={"feedback": feedback})
        assert posted.status_code < 300, posted.text
    return targets


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    home = tmp_path_factory.mktemp("e2e-home")
    work = tmp_path_factory.mktemp("e2e-work")
    with warnings.catch_warnings():  # mlflow's hint about integer outputs: intended
        warnings.simplefilter("ignore", UserWarning)
        model_dir = save_logistic(work / "model")
    reference = work / "reference.csv"
    training_frame(300, seed=3)[0].to_csv(reference, index=False)
    plane = start_plane(home)
    try:
        client = MlflowClient(plane.url, registry_uri=plane.url)
        client.create_registered_model(MODEL)
        for _ in range(2):  # v2 is the canary: the same model, a version of its own
            client.create_model_version(MODEL, source=str(model_dir))
        client.set_registered_model_alias(MODEL, "champion", "1")
        specs = work / "specs.yaml"
        specs.write_text(
            SPECS.format(deployment=DEPLOYMENT, monitor=MONITOR, model=MODEL, reference=reference, rows=WINDOW_ROWS)
        )
        applied = plane.cnai("apply", "-f", str(specs))
        assert applied.returncode == 0, applied.stdout + applied.stderr

        def serving() -> str | None:
            status = plane.resource("deployments", DEPLOYMENT)["status"]
            ready = status.get("phase") == "Ready" and (status.get("canary") or {}).get("ready") == 1
            return str(status["url"]) if ready else None

        router = wait_for(serving, 120, "the deployment and its canary ready")
        # Two bursts in two of the router's 10 s sampling intervals: two points on each traffic chart.
        targets = []
        for samples in (1, 2):
            targets += send_traffic(plane, router, REQUESTS // 2, seed=samples)
            wait_for(lambda n=samples: busy_samples(plane) >= n, 30, f"{samples} traffic samples with requests")
        assert set(targets) == {"primary", "canary"}
        wait_for(lambda: plane.resource("monitors", MONITOR)["status"].get("windows", 0) >= 2, 60, "two windows")
        wait_for(lambda: labelled_windows(plane) >= 2, 60, "the labels joined to two windows")
        yield plane
    finally:
        plane.stop()


# -- browser helpers ---------------------------------------------------------------------------------


def css(driver: Any, selector: str) -> list[Any]:
    return list(driver.find_elements("css selector", selector))


def visit(driver: Any, url: str) -> None:
    driver.get(url)
    ready(driver)


def ready(driver: Any) -> None:
    wait_for(lambda: driver.find_element("tag name", "body").get_attribute("data-ready") == "1", 20, "page ready")


def shoot(driver: Any, shots: Path, name: str) -> None:
    driver.save_screenshot(str(shots / f"{name}.png"))
    assert (shots / f"{name}.png").stat().st_size > 10_000  # a real picture, not a blank


# -- tests ------------------------------------------------------------------------------------------------


def test_deployment_page_shows_replicas_events_traffic_and_logs(browser: Any, plane: Plane, shots: Path) -> None:
    visit(browser, f"{plane.url}/ui/deployments/{DEPLOYMENT}")
    replicas = css(browser, "#replicas tbody tr")
    assert len(replicas) == 2  # the primary and the canary replica
    assert sorted(r.find_elements("css selector", "td")[1].text for r in replicas) == ["canary", "primary"]
    assert all(r.find_elements("css selector", "td")[2].text == "ready" for r in replicas)
    events = browser.find_element("id", "events").text
    for kind in ("ReplicaStarted", "ReplicaReady", "RolloutStarted", "RolloutComplete", "CanaryStarted", "ScaledUp"):
        assert kind in events, kind
    # The traffic charts drew the router's samples for both targets, with the events as markers.
    requests = wait_for(lambda: browser.find_element("css selector", "#chart-requests[data-drawn]"), 20, "chart")
    assert requests.get_attribute("data-series") == "2"
    assert int(requests.get_attribute("data-points")) >= 2
    assert int(requests.get_attribute("data-marks")) >= 3  # scale-up, roll-out, canary at least
    assert len(requests.find_elements("css selector", "canvas")) == 1
    assert css(browser, "#chart-latency[data-drawn]")
    shoot(browser, shots, "e2e-deployment")
    browser.execute_script("arguments[0].scrollIntoView()", requests)
    shoot(browser, shots, "e2e-deployment-traffic")
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element("id", "replicas"))
    shoot(browser, shots, "e2e-deployment-replicas-events")
    # A replica's log, from its row.
    primary = next(r for r in replicas if r.find_elements("css selector", "td")[1].text == "primary")
    cells = [td.text for td in primary.find_elements("css selector", "td")]
    ident, port = cells[0], cells[4]
    primary.find_element("link text", "log").click()
    ready(browser)
    assert browser.current_url.endswith(f"/ui/deployments/{DEPLOYMENT}/replicas/{ident}/log")
    log = browser.find_element("id", "log").text
    assert f"cnai serve {DEPLOYMENT} on http://127.0.0.1:{port}" in log  # the replica's own banner
    shoot(browser, shots, "e2e-replica-log")


def test_monitor_windows_and_the_lineage_from_version_to_monitor(browser: Any, plane: Plane, shots: Path) -> None:
    def follow(text: str) -> None:
        browser.find_element("css selector", "main").find_element("partial link text", text).click()
        ready(browser)

    visit(browser, f"{plane.url}/ui/models/{MODEL}/versions/1")
    follow(f"deployment {DEPLOYMENT}")  # the version -> the deployment serving it
    assert browser.current_url.endswith(f"/ui/deployments/{DEPLOYMENT}")
    follow(MONITOR)  # the deployment -> the monitor watching it
    assert browser.current_url.endswith(f"/ui/monitors/{MONITOR}")
    share = wait_for(lambda: browser.find_element("css selector", "#chart-drift-share[data-drawn]"), 20, "chart")
    assert int(share.get_attribute("data-points")) >= 2
    assert browser.find_element("css selector", "#chart-feature-scores").get_attribute("data-series") == str(
        len(FEATURES)
    )
    performance = browser.find_element("css selector", "#chart-performance[data-drawn]")  # live, from the labels
    assert int(performance.get_attribute("data-points")) >= 2
    assert "labels)" in browser.find_element("tag name", "main").text  # the windows' performance column
    browser.execute_script("arguments[0].scrollIntoView()", performance)
    shoot(browser, shots, "e2e-monitor-performance")
    windows = [a.text for a in css(browser, "main table a[href*='/windows/']")]
    assert {"1", "2"} <= set(windows)
    shoot(browser, shots, "e2e-monitor")
    follow(f"deployment {DEPLOYMENT}")  # and back to what it watches
    assert browser.current_url.endswith(f"/ui/deployments/{DEPLOYMENT}")
    browser.back()
    ready(browser)
    browser.find_element("css selector", f"main a[href='/ui/monitors/{MONITOR}/windows/1']").click()
    ready(browser)
    assert browser.current_url.endswith(f"/ui/monitors/{MONITOR}/windows/1")
    report = browser.find_element("tag name", "main").text
    assert all(feature in report for feature in FEATURES)
    # The canary's version lists the deployment too.
    visit(browser, f"{plane.url}/ui/models/{MODEL}/versions/2")
    assert f"deployment {DEPLOYMENT}" in browser.find_element("tag name", "main").text
