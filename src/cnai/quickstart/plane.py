"""The quickstart's handle on its private control plane: start `cnai up`, call /api/v1, wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from cnai.db import lock as store_lock
from cnai.errors import Unavailable

T = TypeVar("T")


class PrivatePlane:
    """`cnai up` as a child process on a free port; stopped (replicas and all) on exit."""

    def __init__(self, home: Path, port: int, event_bus: str, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        # A private plane: the user's own CNAI_* settings (a production store, a token) stay out.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CNAI_", "MLFLOW_TRACKING"))}
        env["CNAI_HOME"] = str(home)
        cmd = [sys.executable, "-m", "cnai.cli.main", "up", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--store", f"sqlite:///{home / 'cnai.db'}", "--artifacts", (home / "artifacts").as_uri()]
        cmd += ["--event-bus", event_bus, "--log-level", "warning"]
        # The drift monitor's action retrains with this very interpreter. The plane is the user's
        # own (loopback, no token: its caller is the anonymous admin), so it opts in to command
        # actions for that one program and nothing else.
        cmd += ["--allow-command-actions", "--command-allowlist", sys.executable]
        # The store lock this process took (cnai.db.lock) goes to the child, which adopts it: no
        # moment without it in which another `cnai up` could start on this store.
        lock = store_lock.held(f"sqlite:///{home / 'cnai.db'}")
        handed = (lock.fd,) if lock is not None and lock.fd is not None else ()
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, pass_fds=handed)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def __enter__(self) -> PrivatePlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.proc.terminate()  # SIGTERM: the controllers stop their replicas and routers first
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise Unavailable(f"`cnai up` exited early: {self._last_line()}")
            try:
                return self.http.get("/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout, f"`cnai up` did not answer in {timeout:.0f}s; see {self.log_path}")

    def _last_line(self) -> str:
        """What `cnai up` said last: its error, on one line (see cnai.cli._common.fail)."""
        self._log.flush()
        try:
            lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        return lines[-1].removeprefix("Error: ") if lines else "no output"

    def apply(self, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        doc = {"apiVersion": "cnai.io/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
        return self._call("PUT", f"/api/v1/resources/{kind.lower()}s/{name}", doc)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/resources/{kind.lower()}s/{name}")

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.http.request(method, path, json=body)
        if response.status_code >= 400:
            raise Unavailable(f"{method} {path}: HTTP {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result


def wait_for(check: Callable[[], T | None], timeout: float, message: str, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; Unavailable(message) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Unavailable(message)
        time.sleep(interval)
