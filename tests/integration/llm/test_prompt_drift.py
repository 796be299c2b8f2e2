"""Drift of an LLM's prompts under a real ``cnai up``: SmolLM2 as a Deployment that logs its prompts
(``llm.captureContent``), all-MiniLM-L6-v2 as a Deployment serving ``/v1/embeddings``, and two
Monitors with ``tests.promptDrift`` (Evidently's default method, and MMD) against a reference of
cooking questions. Sixteen more cooking questions make a window without drift; sixteen questions
about planets make the next window drift, breach and raise an alert.

The same questions are sampled for the reference and the first window (a random split of one
pool), as prompts of an unchanged topic are; sentence embeddings tell two phrasings apart too
well for "another wording of the same topic" to count as no drift.

Replicas run in the interpreter of ``cnai up``. sentence-transformers (torch) lives in its own
environment (``CNAI_TEST_EMBEDDINGS_PYTHON``), llama-cpp-python in this one: the plane starts with
a ``sitecustomize`` that appends the embeddings environment's site-packages after this one's, so
both runtimes import in the replicas, this environment's packages first.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.fixtures.servers import free_port
from tests.integration.llm.conftest import REPO, minilm_dir, smollm_gguf
from tests.integration.llm.test_registry_deployment import Plane, _healthy, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

COOKING = [
    "How long should I bake {} in the oven?",
    "What spices go well with {}?",
    "Give me a simple recipe with {}.",
    "How do I know when {} is cooked through?",
    "Can I freeze leftover {}?",
    "What side dish goes with {}?",
]
FOODS = ["chicken", "salmon", "potatoes", "rice", "lentils", "carrots", "tofu", "beef stew", "mushrooms",
         "pork chops", "quinoa", "zucchini"]  # fmt: skip
PLANETS = [
    "How far is {} from the Sun?",
    "How many moons does {} have?",
    "What is the atmosphere of {} made of?",
    "Could a spacecraft land on {}?",
]
WINDOW = 16


def prompts() -> tuple[list[str], list[str], list[str]]:
    """(reference, a window of the same topic, a window about planets)."""
    pool = [t.format(f) for t in COOKING for f in FOODS]
    random.Random(3).shuffle(pool)
    planets = [t.format(p) for t in PLANETS for p in ("Mars", "Jupiter", "Saturn", "Venus")]
    return pool[:-WINDOW], pool[-WINDOW:], planets


def register(url: str) -> None:
    """Both models with the stock client, as the README shows: a GGUF file, a model directory."""
    import mlflow

    mlflow.set_tracking_uri(url)
    try:
        with mlflow.start_run():
            mlflow.log_artifact(str(smollm_gguf()), artifact_path="model")
            mlflow.register_model(mlflow.get_artifact_uri("model"), "chat")
        with mlflow.start_run():
            mlflow.log_artifacts(str(minilm_dir()), artifact_path="model")
            mlflow.register_model(mlflow.get_artifact_uri("model"), "mini")
    finally:
        mlflow.set_tracking_uri(None)


def manifests(reference: Path) -> str:
    monitor = """
apiVersion: cnai.io/v1
kind: Monitor
metadata: {{name: {name}}}
spec:
  target: {{deployment: chat}}
  window: {{count: {window}}}
  tests:
    promptDrift: {{embeddings: mini, reference: {{file: {reference}}}{extra}}}
  actions: [{{alert: {{}}}}]
"""
    return "---".join(
        [
            """
apiVersion: cnai.io/v1
kind: Deployment
metadata: {name: chat}
spec:
  model: models:/chat/1
  replicas: {min: 1, max: 1}
  llm: {slots: 4, context: 256, threads: 1, captureContent: true}
""",
            """
apiVersion: cnai.io/v1
kind: Deployment
metadata: {name: mini}
spec:
  model: models:/mini/1
  replicas: {min: 1, max: 1}
""",
            monitor.format(name="prompts", window=WINDOW, reference=reference, extra=""),
            monitor.format(name="prompts-mmd", window=WINDOW, reference=reference, extra=", method: mmd"),
        ]
    )


def _site_packages(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import sys, sysconfig; print(sys.version_info[:2], sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    version, path = done.stdout.strip().split(") ")
    if version + ")" != str(sys.version_info[:2]):
        pytest.skip(f"CNAI_TEST_EMBEDDINGS_PYTHON is Python {version}), this one {sys.version_info[:2]}")
    return path


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    python = os.environ.get("CNAI_TEST_EMBEDDINGS_PYTHON", "")
    if not python or not Path(python).exists():
        pytest.skip("CNAI_TEST_EMBEDDINGS_PYTHON names no interpreter with sentence-transformers (make test sets it)")
    smollm_gguf()  # skips without llama-cpp-python or the model package
    extra = tmp_path / "site"
    extra.mkdir()
    (extra / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({_site_packages(python)!r})\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNAI_", "MLFLOW_"))}
    path = os.pathsep.join(p for p in (str(REPO / "src"), str(extra), env.get("PYTHONPATH", "")) if p)
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
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_prompts_on_another_topic_drift_in_the_next_window(
    plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    register(plane.url)
    reference, same, planets = prompts()
    reference_file = tmp_path / "prompts.csv"
    pd.DataFrame({"prompt": reference}).to_csv(reference_file, index=False)
    applied = plane.cnai("apply", "-f", "-", stdin=manifests(reference_file))
    assert "monitor/prompts-mmd" in applied

    def ready(name: str) -> dict[str, Any] | None:
        status = plane.resource("Deployment", name)["status"]
        return status if status.get("phase") == "Ready" else None

    chat = wait_for(lambda: ready("chat"), 300, "the LLM deployment", plane)
    wait_for(lambda: ready("mini"), 300, "the embeddings deployment", plane)

    def ask(questions: list[str]) -> None:
        """One token each, four at a time (the deployment's slots)."""
        with httpx.Client(base_url=chat["url"], timeout=60) as client:

            def one(question: str) -> None:
                body = {"model": "chat", "messages": [{"role": "user", "content": question}], "max_tokens": 1}
                answer = client.post("/v1/chat/completions", json=body)
                assert answer.status_code == 200, answer.text

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(one, questions))

    def windows(monitor: str, n: int) -> list[dict[str, Any]] | None:
        answer = httpx.get(f"{plane.url}/api/v1/monitors/{monitor}/windows", timeout=10)
        found = answer.json().get("windows") or []
        return found if len(found) >= n else None

    ask(same)
    for monitor in ("prompts", "prompts-mmd"):
        [first] = wait_for(lambda m=monitor: windows(m, 1), 120, f"{monitor}'s first window", plane)
        result = first["prompt_drift"]
        assert "error" not in result, result
        assert (result["prompts"], result["referencePrompts"], result["drifted"]) == (WINDOW, len(reference), False)
        assert first["breached"] is False
    ask(planets)
    for monitor, method in (("prompts", "model"), ("prompts-mmd", "mmd")):
        second, first = wait_for(lambda m=monitor: windows(m, 2), 120, f"{monitor}'s second window", plane)
        result = second["prompt_drift"]
        assert (result["method"], result["drifted"], second["breached"], second["verdict"]) == (
            method,
            True,
            True,
            "promptDrift",
        ), result
        assert result["score"] > result["threshold"] >= first["prompt_drift"]["score"]
    default = plane.resource("Monitor", "prompts")["status"]["lastWindow"]["promptDrift"]
    assert (default["method"], default["bootstrap"]) == ("model", True)  # Evidently's default below 1,000 rows
    status = plane.cnai("describe", "monitor", "prompts").split("\nstatus\n", 1)[1]
    assert "promptDrift:" in status
    assert "drifted: true" in status
    metrics = httpx.get(f"{plane.url}/metrics", timeout=10).text
    assert 'cnai_monitor_prompt_drift{monitor="prompts"} 1.0' in metrics
    wait_for(
        lambda: httpx.get(f"{plane.url}/api/v1/monitors/prompts/actions", timeout=10).json()["actions"],
        30,
        "the alert of the drifted window",
        plane,
    )
