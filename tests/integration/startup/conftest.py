"""What a new user sees when starting cnai: the commands run as real processes, as a user would.

A startup mistake must be one line on stderr (``Error: ...``), a non-zero exit, no traceback and
no banner claiming the server is up (stdout stays empty).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import free_port


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without the user's cnai and mlflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNAI_", "MLFLOW_TRACKING_URI"))}
    return {**env, "CNAI_HOME": str(home), **extra}


def cnai(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnai.cli.main", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``Error: ...`` line a failed start printed; fails the test on anything else."""
    everything = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode != 0, everything
    assert "Traceback" not in everything, everything
    assert done.stdout == "", everything  # no banner: nothing claimed to be up
    lines = done.stderr.splitlines()
    assert len(lines) == 1, everything
    assert lines[0].startswith("Error: "), everything
    return lines[0]


@dataclass
class Up:
    """A `cnai up` child process."""

    proc: subprocess.Popen[bytes]
    url: str
    home: Path
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # its controllers stop their replicas first
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_up(home: Path, *extra: str, env: dict[str, str] | None = None) -> Up:
    port = free_port()
    log = home.parent / f"up-{port}.log"
    cmd = [sys.executable, "-m", "cnai.cli.main", "up", "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, env=env or clean_env(home), stdout=log.open("wb"), stderr=subprocess.STDOUT)
    up = Up(proc, f"http://127.0.0.1:{port}", home, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cnai up exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{up.url}/health", timeout=1).status_code == 200:
                return up
        except httpx.TransportError:
            time.sleep(0.2)
    up.stop()
    raise RuntimeError(f"cnai up did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path
