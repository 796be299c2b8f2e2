"""The web UI against a live control plane filled by the stock mlflow client and the stores.

One plane for the module: an experiment of three runs (params, metric histories, an artifact),
a registered model with an alias, a Deployment and a Monitor with reported status, and two
stored monitor windows with an action. Each page is fetched over HTTP as a browser would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from cnai.monitoring.monitor.evaluate import WindowVerdict
from cnai.monitoring.monitor.store import Batch, ClosedWindow, MonitorStore, OutboxAction
from cnai.resources import SYSTEM, Document
from cnai.server.app import ControlPlane
from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, start_live_server

pytestmark = pytest.mark.integration

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@dataclass
class Filled:
    server: LiveServer
    http: httpx.Client
    experiment_id: str
    run_ids: list[str]  # run-0, run-1, run-2 (accuracy 0.5, 0.7, 0.9)
    script_experiment_id: str


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    home: Path = tmp_path_factory.mktemp("ui-home")
    server = start_live_server(Settings(home=home))
    client = MlflowClient(server.url, registry_uri=server.url)
    exp = client.create_experiment("ui-exp")
    run_ids = []
    for i, acc in enumerate((0.5, 0.7, 0.9)):
        run = client.create_run(exp, run_name=f"run-{i}", tags={"team": "vision"})
        rid = run.info.run_id
        client.log_param(rid, "lr", str(0.1 * (i + 1)))
        for step in range(5):
            client.log_metric(rid, "accuracy", acc * (step + 1) / 5, step=step)
        client.log_metric(rid, "loss", 1 - acc)
        client.set_terminated(rid)
        run_ids.append(rid)
    client.log_text(run_ids[2], "notes", "docs/readme.txt")
    script_exp = client.create_experiment(SCRIPT)
    hostile = client.create_run(script_exp, run_name=SCRIPT)
    client.log_param(hostile.info.run_id, "payload", SCRIPT)  # keys are validated; values are free text
    client.set_tag(hostile.info.run_id, "note", SCRIPT)

    client.create_registered_model("ui-model")
    for rid in run_ids[1:]:
        client.create_model_version("ui-model", f"mlflow-artifacts:/{exp}/{rid}/artifacts/model", run_id=rid)
    client.set_registered_model_alias("ui-model", "champion", "2")

    plane: ControlPlane = server.server_app_plane()  # type: ignore[no-untyped-call]
    spec = {"model": "models:/ui-model@champion", "canary": {"model": "models:/ui-model/1", "percent": 20}}
    deployment, _ = plane.resources.apply(Document("cnai.io/v1", "Deployment", "wine", spec), principal=SYSTEM)
    status = {
        "phase": "Ready",
        "url": "http://127.0.0.1:45678",
        "model": {"uri": "models:/ui-model@champion", "resolved": "models:/ui-model/2", "version": "2"},
        "replicas": {"desired": 2, "ready": 2, "updated": 2},
        "canary": {"model": "models:/ui-model/1", "version": "1", "percent": 20, "requests": 321, "errors": 4},
        "processes": [{"pid": 4242, "port": 5001, "role": "primary", "state": "ready", "revision": "abc123"}],
        "traffic": [
            {
                "t": 1_700_000_000_000 + i * 10_000,
                "target": target,
                "rps": 5.0 + i,
                "errorRate": 0.01,
                "p50Ms": 4.0,
                "p95Ms": 9.0,
                "p99Ms": 15.0 + i,
            }
            for i in range(3)
            for target in ("primary", "canary")
        ],
    }
    plane.resources.set_status("Deployment", "wine", status, deployment.generation)
    monitor_spec = {
        "target": {"deployment": "wine"},
        "reference": {"file": str(home / "reference.csv")},
        "window": {"count": 100},
        "tests": {"driftShareThreshold": 0.5},
    }
    monitor, _ = plane.resources.apply(Document("cnai.io/v1", "Monitor", "wine-drift", monitor_spec), principal=SYSTEM)
    windows = [
        _window(1, share=0.1, drifted=[], accuracy=0.93),
        _window(2, share=0.75, drifted=["alcohol", "proline"], accuracy=0.61),
    ]
    MonitorStore(plane.engine).write_batch("ui-test", Batch(windows=windows), now=1_700_000_000_000)
    last = {"driftShare": 0.75, "datasetDrift": True, "breached": True}
    plane.resources.set_status(
        "Monitor", "wine-drift", {"phase": "Ready", "windows": 2, "breaches": 1, "lastWindow": last}, 1
    )
    assert monitor.generation == 1
    _prompt_monitor(plane, home)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield Filled(server, http, exp, run_ids, script_exp)
    server.stop()


def _window(seq: int, share: float, drifted: list[str], accuracy: float) -> ClosedWindow:
    features = {f: {"drifted": f in drifted, "score": 0.01} for f in ("alcohol", "proline", "hue")}
    start = 1_700_000_000_000 + seq * 60_000
    verdict = WindowVerdict(100, start, start + 59_000, share, bool(drifted), features, {})
    actions = [OutboxAction(f"wine-drift/{seq}/0", "wine-drift", seq, 0, "alert", {}, {})] if drifted else []
    return ClosedWindow("wine-drift", seq, 1, verdict, bool(drifted), actions, [])


def _prompt_monitor(plane: ControlPlane, home: Path) -> None:
    """An LLM's monitor without a reference: service checks and the drift of its prompts, two windows."""
    spec = {
        "target": {"deployment": "chat"},
        "window": {"count": 20},
        "tests": {
            "service": {"thresholds": {"errorRate": 0.1}},
            "promptDrift": {"embeddings": "mini", "reference": {"file": str(home / "prompts.csv")}},
        },
    }
    plane.resources.apply(Document("cnai.io/v1", "Monitor", "chat-prompts", spec), principal=SYSTEM)
    windows = []
    for seq, score, drifted in ((1, 0.41, False), (2, 0.97, True)):
        start = 1_700_000_000_000 + seq * 60_000
        prompts = {"embeddings": "mini", "method": "model", "prompts": 20, "referencePrompts": 56,
                   "score": score, "threshold": 0.708, "drifted": drifted, "bootstrap": True}  # fmt: skip
        service = {"requests": 20, "errorRate": 0.0, "breached": []}
        verdict = WindowVerdict(20, start, start + 59_000, 0.0, False, {}, {}, service=service, prompt_drift=prompts)
        reason = "promptDrift" if drifted else None
        windows.append(ClosedWindow("chat-prompts", seq, 1, verdict, drifted, [], [], reason))
    MonitorStore(plane.engine).write_batch("ui-test", Batch(windows=windows), now=1_700_000_000_000)
    last = {"driftShare": 0.0, "datasetDrift": False, "breached": True, "promptDrift": windows[-1].verdict.prompt_drift}
    plane.resources.set_status("Monitor", "chat-prompts", {"phase": "Ready", "windows": 2, "lastWindow": last}, 1)


def _page(filled: Filled, path: str, status: int = 200) -> str:
    response = filled.http.get(path)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response.text


def _text(html: str) -> str:
    """The page's visible text, tags dropped and whitespace squeezed, to assert on what users read."""
    visible = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", visible))


def test_overview_lists_every_kind_with_links(filled: Filled) -> None:
    html = _page(filled, "/")
    text = _text(html)
    assert f'href="/ui/experiments/{filled.experiment_id}"' in html
    assert ">ui-exp</a></td><td class=num>3</td>" in html  # three runs
    assert 'href="/ui/models/ui-model"' in html
    assert "@champion → v2" in text
    assert 'href="/ui/deployments/wine"' in html
    assert 'href="http://127.0.0.1:45678"' in html  # the router, as a link
    assert "2/2" in text
    assert "models:/ui-model@champion (v2)" in text
    assert "models:/ui-model/1 at 20%" in text
    assert 'href="/ui/monitors/wine-drift"' in html
    assert "0.75" in text


def test_json_clients_still_get_the_service_document_at_root(filled: Filled) -> None:
    answer = filled.http.get("/", headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["service"] == "cnai control plane"


def test_experiment_page_has_runs_params_and_metrics_as_columns(filled: Filled) -> None:
    text = _text(_page(filled, f"/ui/experiments/{filled.experiment_id}"))
    for name in ("run-0", "run-1", "run-2"):
        assert name in text
    assert "lr" in text
    assert "accuracy" in text
    assert "loss" in text
    assert "0.9" in text
    assert "FINISHED" in text


def test_experiment_page_sorts_by_a_metric_through_the_store(filled: Filled) -> None:
    def order(value: str) -> list[str]:
        html = filled.http.get(f"/ui/experiments/{filled.experiment_id}", params={"order_by": value}).text
        return re.findall(r">(run-\d)</a>", html)

    assert order("metrics.accuracy DESC") == ["run-2", "run-1", "run-0"]
    assert order("metrics.accuracy ASC") == ["run-0", "run-1", "run-2"]
    # The column header links to the opposite direction of the current sort.
    html = filled.http.get(f"/ui/experiments/{filled.experiment_id}?order_by=metrics.accuracy%20DESC").text
    assert "order_by=metrics.accuracy+ASC" in html


def test_bad_order_by_is_a_400_page_naming_the_problem(filled: Filled) -> None:
    response = filled.http.get(f"/ui/experiments/{filled.experiment_id}", params={"order_by": "metrics.x SIDEWAYS"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "SIDEWAYS" in response.text
    assert "Traceback" not in response.text


def test_run_page_shows_values_history_tags_and_artifacts(filled: Filled) -> None:
    html = _page(filled, f"/ui/runs/{filled.run_ids[2]}")
    text = _text(html)
    assert "run-2" in text
    assert "ui-exp" in text
    assert "lr" in text
    assert "0.30000000000000004" in text
    assert "accuracy" in text
    assert "0.9" in text
    # One chart per metric, drawn in the browser from /ui/api/history (tests/browser checks the drawing).
    assert html.count("data-metric-chart=") == 2
    assert "team" in text
    assert "vision" in text
    assert f'href="/ui/runs/{filled.run_ids[2]}/artifacts?path=docs"' in html


def test_history_api_answers_every_selected_run(filled: Filled) -> None:
    answer = filled.http.get("/ui/api/history", params={"run": filled.run_ids, "key": "accuracy"})
    assert answer.status_code == 200
    runs = answer.json()["runs"]
    assert runs[filled.run_ids[2]]["steps"] == [0, 1, 2, 3, 4]
    assert runs[filled.run_ids[2]]["values"][-1] == pytest.approx(0.9)
    assert filled.http.get("/ui/api/history", params={"run": "nope", "key": "x"}).status_code == 404
    assert filled.http.get("/ui/api/history", params={"key": "x"}).status_code == 400


def test_artifact_browser_previews_text(filled: Filled) -> None:
    html = _page(filled, f"/ui/runs/{filled.run_ids[2]}/artifacts?file=docs/readme.txt")
    assert "<pre" in html
    assert ">notes</pre>" in html
    assert _page(filled, f"/ui/runs/{filled.run_ids[2]}/artifacts?file=../x", 400)


def test_compare_page_shows_params_side_by_side_with_differences(filled: Filled) -> None:
    html = _page(filled, "/ui/compare?" + "&".join(f"run={r}" for r in filled.run_ids))
    params = html[html.index('id="params-table"') :]
    params = params[: params.index("</table>")]
    assert "<tr class=diff><th>lr</th>" in params  # 0.1, 0.2, 0.3...: they differ
    assert 'id="compare-data"' in html
    assert _page(filled, "/ui/compare", 400)


def test_runs_page_filters_with_the_search_grammar(filled: Filled) -> None:
    html = _page(filled, f"/ui/experiments/{filled.experiment_id}?filter=metrics.accuracy%20%3E%200.6")
    assert sorted(re.findall(r">(run-\d)</a>", html)) == ["run-1", "run-2"]
    bad = _page(filled, f"/ui/experiments/{filled.experiment_id}?filter=metrics.accuracy%20%3E%3E", 400)
    assert "expected" in bad


def test_model_version_page_links_run_and_deployment(filled: Filled) -> None:
    html = _page(filled, "/ui/models/ui-model/versions/2")
    assert f'href="/ui/runs/{filled.run_ids[2]}"' in html
    assert 'href="/ui/deployments/wine"' in html, _text(html)  # @champion is v2
    assert 'href="/ui/monitors/wine-drift"' in html
    assert 'href="/ui/monitors/wine-drift/windows/2"' in html  # the alert of window 2


def test_model_page_lists_versions_aliases_and_run_links(filled: Filled) -> None:
    html = _page(filled, "/ui/models/ui-model")
    text = _text(html)
    assert "v1" in text
    assert "v2" in text
    assert "@champion" in text
    assert f'href="/ui/runs/{filled.run_ids[1]}"' in html
    assert 'href="/ui/deployments/wine"' in html  # the deployment serving it


def test_deployment_page_shows_spec_status_canary_and_processes(filled: Filled) -> None:
    text = _text(_page(filled, "/ui/deployments/wine"))
    assert "Ready" in text
    assert "models:/ui-model/2" in text
    assert "2 ready / 2 desired" in text
    assert "321" in text
    html = _page(filled, "/ui/deployments/wine")
    latency = re.search(r'<script type="application/json" id="data-latency">(.*?)</script>', html)
    assert latency is not None
    spec = json.loads(latency.group(1))
    assert len(spec["x"]) == 3
    assert [s["label"] for s in spec["series"]][:2] == ["primary p50", "canary p50"]
    assert 'href="/ui/models/ui-model/versions/2"' in html  # what the primary serves
    assert 'href="/ui/monitors/wine-drift"' in html
    assert "20%" in text
    assert "4242" in text
    assert "5001" in text
    assert "targetConcurrency" in text  # the normalised spec


def test_monitor_page_charts_windows_and_lists_actions(filled: Filled) -> None:
    html = _page(filled, "/ui/monitors/wine-drift")
    text = _text(html)
    assert 'data-inline-chart="data-drift-share"' in html
    assert 'href="/ui/monitors/wine-drift/windows/2"' in html
    assert "alcohol, proline" in text
    assert "alert" in text
    assert "pending" in text
    assert "threshold 0.5" in text
    report = _text(_page(filled, "/ui/monitors/wine-drift/windows/2"))
    assert "proline" in report
    assert "0.75" in report


def test_a_monitor_without_reference_says_it_has_no_drift_test_and_shows_prompt_drift(filled: Filled) -> None:
    overview = _text(_page(filled, "/"))
    # name, phase, windows, breaches, last drift share (none: no reference), last verdict
    assert "chat-prompts Ready 2 0 no drift test prompt drift " in overview
    html = _page(filled, "/ui/monitors/chat-prompts")
    text = _text(html)
    assert "none: no drift test of features" in text
    assert 'data-inline-chart="data-drift-share"' not in html  # no feature was compared
    assert 'data-inline-chart="data-prompt-drift"' in html
    assert 'href="/ui/deployments/mini"' in html
    windows = text[text.index("Windows") :]
    assert "model 0.41 / 0.708 ok (20 prompts)" in windows
    assert "model 0.97 / 0.708 drift (20 prompts)" in windows
    assert windows.count("no drift test") == 2
    report = _text(_page(filled, "/ui/monitors/chat-prompts/windows/2"))
    assert "prompt drift model 0.97 / 0.708 drift" in report
    assert "drift share no drift test" in report
    # A monitor with a reference still shows its share.
    assert "0.75" in _text(_page(filled, "/ui/monitors/wine-drift"))


def test_names_tags_and_params_are_escaped(filled: Filled) -> None:
    overview = _page(filled, "/")
    experiment = _page(filled, f"/ui/experiments/{filled.script_experiment_id}")
    hostile = re.search(r'href="/ui/runs/([0-9a-f]{32})"', experiment)
    assert hostile is not None
    run = _page(filled, f"/ui/runs/{hostile.group(1)}")
    for html in (overview, experiment, run):
        assert SCRIPT not in html
        assert ESCAPED in html
    assert run.count(ESCAPED) >= 4  # <title>, heading, param value, tag value


@pytest.mark.parametrize(
    "path",
    [
        "/ui/experiments/424242",
        "/ui/experiments/not-a-number",
        "/ui/runs/0123456789abcdef0123456789abcdef",
        "/ui/runs/nope",
        "/ui/models/no-such-model",
        "/ui/deployments/nope",
        "/ui/monitors/nope",
        "/ui/no/such/page",
    ],
)
def test_unknown_objects_are_404_pages(filled: Filled, path: str) -> None:
    html = _page(filled, path, status=404)
    assert "404 Not found" in html
    assert "Traceback" not in html
