"""An LLM through the whole lifecycle, as a user drives it: registry → deployment → canary → promote,
watched by a Monitor.

A real ``cnai up`` (control plane with its deployment and monitor controllers) in a subprocess;
two versions of SmolLM2's GGUF logged and registered with the stock ``mlflow`` client (the same
weights, told apart by their version's description); a ``kind: Deployment`` following
``models:/chat@champion`` with version 2 as a 50% canary and a ``kind: Monitor`` on the
deployment's service, applied with ``cnai apply``; chat requests through the router with the
unchanged ``openai`` SDK, streamed and not. The router's ``x-cnai-model-version`` header says
which version answered; the monitor's window must add up to the tokens the SDK reported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.servers import free_port
from tests.integration.llm.conftest import REPO, smollm_gguf

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

MESSAGES = [{"role": "user", "content": "Name a colour."}]
MANIFESTS = """
apiVersion: cnai.io/v1
kind: Monitor
metadata: {name: chat-slo}
spec:
  target: {deployment: chat}
  window: {count: 6}
  tests:
    service: {thresholds: {errorRate: 0.2, ttftP95Ms: 60000}}
  actions: [{alert: {}}]
---
apiVersion: cnai.io/v1
kind: Deployment
metadata: {name: chat}
spec:
  model: models:/chat@champion
  replicas: {min: 1, max: 1}
  canary: {model: models:/chat/2, percent: 50}
  llm: {slots: 2, context: 512, threads: 1}
"""


@dataclass
class Plane:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def cnai(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cnai.cli.main", *args, "--tracking-uri", self.url],
            env={**self.env, "COLUMNS": "200"},  # rich wraps tables to the terminal's width
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/v1/resources/{kind}/{name}", timeout=10)
        assert answer.status_code == 200, answer.text
        doc: dict[str, Any] = answer.json()
        return doc

    def logs(self) -> str:
        parts = [self.log.read_text()[-3000:]]
        for replica_log in sorted(Path(self.env["CNAI_HOME"]).glob("deployments/*/*.log")):
            parts.append(f"--- {replica_log.name}\n{replica_log.read_text()[-1500:]}")
        return "\n".join(parts)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNAI_", "MLFLOW_"))}
    path = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    env.update({"CNAI_HOME": str(home), "PYTHONPATH": path})
    port = free_port()
    log = tmp_path / "up.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnai.cli.main", "up", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    plane = Plane(f"http://127.0.0.1:{port}", proc, log, env)
    try:
        wait_for(lambda: _healthy(plane), 90, "cnai up to answer", plane)
        yield plane
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # its controllers stop the replicas first
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _healthy(plane: Plane) -> bool:
    assert plane.proc.poll() is None, plane.logs()
    try:
        return httpx.get(f"{plane.url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(check: Callable[[], Any], timeout: float, what: str, plane: Plane) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{plane.logs()}")


def register_two_versions(url: str, gguf: Path) -> None:
    """What the README tells users to do, with the stock client."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(url)
    try:
        client = MlflowClient(url)
        for description in ("SmolLM2-135M-Instruct Q4_1", "the same weights, a new version to canary"):
            with mlflow.start_run():
                mlflow.log_artifact(str(gguf), artifact_path="model")
                version = mlflow.register_model(mlflow.get_artifact_uri("model"), "chat")
            client.update_model_version("chat", version.version, description=description)
        client.set_registered_model_alias("chat", "champion", "1")
    finally:
        mlflow.set_tracking_uri(None)


def test_registry_deployment_canary_promote_and_monitor_of_an_llm(
    plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = pytest.importorskip("openai")
    gguf = smollm_gguf()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    register_two_versions(plane.url, gguf)
    applied = plane.cnai("apply", "-f", "-", stdin=MANIFESTS)
    assert "deployment/chat" in applied
    assert "monitor/chat-slo" in applied

    def both_ready() -> dict[str, Any] | None:
        status = plane.resource("Deployment", "chat")["status"]
        canary = status.get("canary") or {}
        return status if status.get("phase") == "Ready" and canary.get("ready") == 1 else None

    status = wait_for(both_ready, 300, "primary (v1) and canary (v2) ready", plane)
    assert status["model"]["version"] == "1"
    assert status["canary"]["version"] == "2"
    client = openai.OpenAI(base_url=f"{status['url']}/v1", api_key="unused", max_retries=0, timeout=120)

    assert [m.id for m in client.models.list().data] == ["chat"]
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4)  # type: ignore[arg-type]
    assert missing.value.code == "model_not_found"

    # Six requests: the 50% split alternates primary and canary, so each version answers three.
    versions: list[str] = []
    tokens = 0
    for _ in range(4):
        raw = client.chat.completions.with_raw_response.create(
            model="chat",
            messages=MESSAGES,
            max_tokens=8,
            temperature=0,
            seed=1,  # type: ignore[arg-type]
        )
        answer = raw.parse()
        assert answer.choices[0].message.content
        assert answer.usage is not None
        assert answer.usage.completion_tokens > 0
        versions.append(raw.headers["x-cnai-model-version"])
        tokens += answer.usage.total_tokens
    for _ in range(2):
        with client.chat.completions.with_streaming_response.create(
            model="chat",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            versions.append(response.headers["x-cnai-model-version"])
            chunks = list(response.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text
        assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1  # relayed piece by piece
        assert chunks[-1].usage is not None
        tokens += chunks[-1].usage.total_tokens
    assert sorted(versions) == ["1", "1", "1", "2", "2", "2"]
    wait_for(
        lambda: plane.resource("Deployment", "chat")["status"]["canary"]["requests"] == 3,
        30,
        "the canary's three requests in the status (written on the controller's next tick)",
        plane,
    )

    # Every request became an inference event: the monitor's first window holds all six, with
    # the token counts the SDK saw and no error.
    def first_window() -> dict[str, Any] | None:
        answer = httpx.get(f"{plane.url}/api/v1/monitors/chat-slo/windows", timeout=10)
        windows = answer.json().get("windows") if answer.status_code == 200 else None
        return windows[-1] if windows else None

    window = wait_for(first_window, 60, "the monitor's first window", plane)
    service = window["service"]
    assert service["requests"] == 6
    assert service["errorRate"] == 0.0
    assert service["totalTokens"] == tokens
    assert service["finishReasons"].get("length", 0) + service["finishReasons"].get("stop", 0) == 6
    assert service["ttftP50Ms"] > 0
    assert service["breached"] == []
    assert window["breached"] is False
    monitor = plane.resource("Monitor", "chat-slo")["status"]
    assert monitor["lastWindow"]["service"]["totalTokens"] == tokens
    header, row = plane.cnai("get", "monitors").splitlines()[:2]
    assert "LAST ERROR RATE" in header
    assert row.split()[:6] == ["chat-slo", "Ready", "1", "0", "-", "0.0%"]  # drift: - (no reference)

    # Promote: the alias moves to version 2, whose canary replica becomes the primary.
    promoted = plane.cnai("promote", "chat")
    assert "version 2" in promoted

    def promoted_and_alone() -> dict[str, Any] | None:
        status = plane.resource("Deployment", "chat")["status"]
        done = status.get("canary") is None and status["model"]["version"] == "2" and len(status["processes"]) == 1
        return status if done and status.get("phase") == "Ready" else None

    wait_for(promoted_and_alone, 120, "the promotion to roll out", plane)
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(
            model="chat",
            messages=MESSAGES,
            max_tokens=4,  # type: ignore[arg-type]
        )
        assert raw.headers["x-cnai-model-version"] == "2"
        assert raw.headers["x-cnai-target"] == "primary"
        assert raw.parse().choices[0].message.content

    metrics = httpx.get(f"{plane.url}/metrics", timeout=10).text
    assert 'cnai_monitor_service{metric="totalTokens",monitor="chat-slo"}' in metrics
