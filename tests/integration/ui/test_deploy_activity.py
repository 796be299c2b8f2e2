"""The deployment page's replicas, events and replica logs against a live control plane.

The status is written as the controller writes it (processes, events, traffic) and the log files
sit where replicas write them (``CNAI_HOME/deployments/NAME/ID.log``), so the log route is tested
on the real files: escaped, bounded to its tail, and reachable only for recorded replicas.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cnai.auth.principal import Role
from cnai.resources import SYSTEM, Document
from cnai.server.app import ControlPlane
from cnai.settings import Settings
from cnai.ui.deploy_activity import LOG_TAIL_BYTES
from tests.fixtures.servers import LiveServer, start_live_server

pytestmark = pytest.mark.integration

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
LOG = "/ui/deployments/wine/replicas/{}/log"


@dataclass
class Filled:
    server: LiveServer
    http: httpx.Client
    home: Path


def _status(now: int) -> dict[str, object]:
    replica = {"role": "canary", "port": 5002, "pid": 99}
    return {
        "phase": "Ready",
        "replicas": {"desired": 1, "ready": 1, "updated": 1},
        "processes": [
            {"id": "primary-5001", "pid": 4242, "port": 5001, "role": "primary", "state": "ready",
             "revision": "abc123", "template": {"model_uri": "models:/wine/2", "version": "2"}},
            {"pid": 4343, "port": 5003, "role": "primary", "state": "starting", "revision": "abc123"},  # no log yet
        ],
        "events": [
            {"t": now - 30_000, "type": "ReplicaStarted", "target": "canary", "message": "canary-5002 started",
             "replica": "canary-5002", **replica},
            {"t": now - 20_000, "type": "ReplicaFailed", "target": "canary", "message": f"canary-5002 exited: {SCRIPT}",
             "replica": "canary-5002", **replica},
            {"t": now - 10_000, "type": "ScaledUp", "target": "primary", "message": "1 -> 2 replicas (panic)",
             "from": 1, "to": 2},
            # A recorded id of the wrong shape never becomes a path.
            {"t": now - 5_000, "type": "ReplicaStarted", "message": "odd", "replica": "../../secret", "role": "primary",
             "port": 1},
        ],
        "traffic": [
            {"t": now - (4 - i) * 10_000, "target": "primary", "rps": 2.0, "errorRate": 0.0, "p50Ms": 1.0,
             "p95Ms": 2.0, "p99Ms": 3.0}
            for i in range(4)
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    home: Path = tmp_path_factory.mktemp("ui-deploy")
    server = start_live_server(Settings(home=home))
    plane: ControlPlane = server.server_app_plane()  # type: ignore[no-untyped-call]
    deployment, _ = plane.resources.apply(
        Document("cnai.io/v1", "Deployment", "wine", {"model": "models:/wine@champion"}), principal=SYSTEM
    )
    plane.resources.set_status("Deployment", "wine", _status(int(time.time() * 1000)), deployment.generation)
    logs = home / "deployments" / "wine"
    logs.mkdir(parents=True)
    filler = "".join(f"filler line {i:06d} {'.' * 60}\n" for i in range(2000))  # ~150 KB: over the tail bound
    (logs / "primary-5001.log").write_text(
        f"FIRST LINE\n{filler}{SCRIPT} in a log line\nLoading:  10%\rLoading: 100%\r\n"
        "\x1b[32mINFO\x1b[0m:     Application startup complete.\n"
    )
    (logs / "canary-5002.log").write_text("Traceback (most recent call last):\nRuntimeError: boom\n")
    (home / "secret").write_text("must never be served")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield Filled(server, http, home)
    server.stop()


def _get(filled: Filled, path: str, status: int = 200) -> str:
    answer = filled.http.get(path)
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def test_deployment_page_lists_replicas_and_events_with_log_links(filled: Filled) -> None:
    html = _get(filled, "/ui/deployments/wine")
    assert f'href="{LOG.format("primary-5001")}"' in html  # a live replica
    assert f'href="{LOG.format("canary-5002")}"' in html  # a failed one, known from its events
    assert 'href="/ui/deployments/wine/replicas/..' not in html  # a badly shaped recorded id gets no link
    assert "models:/wine/2 (v2)" in html
    assert "ReplicaFailed" in html
    assert "1 -&gt; 2 replicas (panic)" in html
    assert SCRIPT not in html
    assert ESCAPED in html
    # Newest first.
    events = html.split('id="events"')[1]
    assert events.index("ScaledUp") < events.index("ReplicaFailed") < events.index("canary-5002 started")
    # The scaling decision is a marker on the traffic charts.
    found = re.search(r'<script type="application/json" id="data-requests">(.*?)</script>', html)
    assert found is not None
    marks = json.loads(found.group(1))["marks"]
    assert [m["label"].split(":")[0] for m in marks] == ["ScaledUp"]
    listed = html.split('<ul class="marks"')[1].split("</ul>")[0]  # what the dashed line is, as text
    assert "ScaledUp: 1 -&gt; 2 replicas (panic)" in listed


def test_a_log_page_shows_the_escaped_tail_of_the_file(filled: Filled) -> None:
    html = _get(filled, LOG.format("primary-5001"))
    log = html.split('<pre id="log" class="log">')[1].split("</pre>")[0]
    assert "Application startup complete." in log
    assert f"{ESCAPED} in a log line" in log
    assert SCRIPT not in html
    assert "\x1b" not in log  # terminal colours stripped
    assert "Loading: 100%\n" in log  # a progress bar as a terminal leaves it: its last redraw
    assert "10%" not in log
    assert "FIRST LINE" not in log  # only the tail is read
    assert len(log.encode()) <= LOG_TAIL_BYTES + 2000  # escaping grows it a little, nothing more
    assert log.startswith("filler line")  # the cut first line is dropped, not shown half
    assert f"the last {LOG_TAIL_BYTES // 1024} KiB" in html
    assert 'href="/ui/deployments/wine"' in html


def test_a_failed_replica_known_from_its_events_still_shows_its_log(filled: Filled) -> None:
    html = _get(filled, LOG.format("canary-5002"))
    assert "RuntimeError: boom" in html
    assert "failed" in html  # its state after the last event


def test_a_recorded_replica_without_a_log_file_says_so(filled: Filled) -> None:
    assert "no log file" in _get(filled, LOG.format("primary-5003"))


@pytest.mark.parametrize(
    "path",
    [
        LOG.format("primary-9999"),  # well-formed but never recorded
        LOG.format("primary-5001.log"),
        LOG.format("..%2F..%2Fsecret"),
        LOG.format("..%2Fprimary-5001"),
        LOG.format("%2E%2E"),
        "/ui/deployments/wine/replicas/../../../secret/log",
        "/ui/deployments/nope/replicas/primary-5001/log",
    ],
)
def test_anything_but_a_recorded_replica_is_refused(filled: Filled, path: str) -> None:
    answer = filled.http.get(path)
    assert answer.status_code in (400, 404), answer.text[:300]
    assert "must never be served" not in answer.text
    assert "filler line" not in answer.text


def test_the_log_route_needs_a_reader(tmp_path: Path) -> None:
    server = start_live_server(Settings(home=tmp_path))
    try:
        plane: ControlPlane = server.server_app_plane()  # type: ignore[no-untyped-call]
        resource, _ = plane.resources.apply(
            Document("cnai.io/v1", "Deployment", "wine", {"model": "models:/wine@champion"}), principal=SYSTEM
        )
        plane.resources.set_status("Deployment", "wine", _status(int(time.time() * 1000)), resource.generation)
        (tmp_path / "deployments" / "wine").mkdir(parents=True)
        (tmp_path / "deployments" / "wine" / "primary-5001.log").write_text("replica says hello\n")
        reader = plane.tokens.create("reader-1", Role.READER)[1]
        path = LOG.format("primary-5001")
        anonymous = httpx.get(server.url + path, timeout=30)
        assert anonymous.status_code == 401
        assert "replica says hello" not in anonymous.text
        allowed = httpx.get(server.url + path, headers={"Authorization": f"Bearer {reader}"}, timeout=30)
        assert allowed.status_code == 200
        assert "replica says hello" in allowed.text
        wrong = httpx.get(server.url + path, headers={"Authorization": "Bearer not-a-token"}, timeout=30)
        assert wrong.status_code == 401
    finally:
        server.stop()


def test_a_monitor_watching_a_model_links_to_it(filled: Filled) -> None:
    plane: ControlPlane = filled.server.server_app_plane()  # type: ignore[no-untyped-call]
    reference = {"file": str(filled.home / "reference.csv")}
    for name, target in (("pinned", {"name": "wine", "version": "2"}), ("every", {"name": "wine"})):
        spec = {"target": {"model": target}, "reference": reference, "window": {"count": 100}}
        plane.resources.apply(Document("cnai.io/v1", "Monitor", name, spec), principal=SYSTEM)
    assert '<a href="/ui/models/wine/versions/2">model wine v2</a>' in _get(filled, "/ui/monitors/pinned")
    assert '<a href="/ui/models/wine">model wine (every version)</a>' in _get(filled, "/ui/monitors/every")
