"""podman as the tests drive it: the project's own setup script first (tools, containers.conf,
the local base image), then every call with that containers.conf and host networking (the only
networking this machine allows: CONTAINERS.md)."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "containers.sh"


@dataclass(frozen=True)
class Podman:
    conf: str  # path of the containers.conf scripts/containers.sh wrote

    @property
    def env(self) -> dict[str, str]:
        import os

        return {**os.environ, "CONTAINERS_CONF": self.conf}

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}: {proc.stderr[-3000:]}")
        return proc

    def build(self, target: str, tag: str, timeout: float = 2400) -> float:
        """Build one target of the repository's Dockerfile from the working tree; seconds taken."""
        started = time.monotonic()
        self.run("build", "--network", "host", "--target", target, "-t", tag, str(REPO), timeout=timeout)
        return time.monotonic() - started

    @contextlib.contextmanager
    def container(self, image: str, args: Sequence[str], env: dict[str, str] | None = None) -> Iterator[str]:
        """A detached container on the host network; removed (with its output shown on failure) after."""
        name = f"cnai-test-{uuid.uuid4().hex[:10]}"
        env_args = [f"--env={k}={v}" for k, v in (env or {}).items()]
        self.run("run", "-d", "--name", name, "--network", "host", *env_args, image, *args)
        try:
            yield name
        finally:
            # -v: also the anonymous volume the image declares for CNAI_HOME.
            self.run("rm", "-f", "-v", "-t", "5", name, check=False, timeout=60)

    def logs(self, name: str) -> str:
        proc = self.run("logs", name, check=False)
        return (proc.stdout + proc.stderr)[-4000:]


def setup_podman() -> Podman:
    """Installs what is missing and makes the base image once (scripts/containers.sh)."""
    proc = subprocess.run([str(SCRIPT), "setup"], capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"scripts/containers.sh setup failed: {proc.stderr[-3000:]}")
    conf = subprocess.run([str(SCRIPT), "conf"], capture_output=True, text=True, check=True).stdout.strip()
    return Podman(conf)


def wait_for_http(url: str, podman: Podman, container: str, timeout: float = 90.0) -> httpx.Response:
    """GET url until it answers 200; fails with the container's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        state = podman.run("inspect", "--format", "{{.State.Status}}", container, check=False).stdout.strip()
        if state in ("exited", "stopped", ""):
            raise AssertionError(f"container {container} is {state or 'gone'}: {podman.logs(container)}")
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200 in {timeout} s ({last}): {podman.logs(container)}")
