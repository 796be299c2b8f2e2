"""Replica processes: ``cnai serve`` children, their readiness, health and end.

Replicas are processes, not imports of :mod:`cnai.serving` (ARCHITECTURE.md): a model that leaks
memory, segfaults in native code or hogs the GIL takes down one replica, not the control plane,
and the same command line is what a Kubernetes pod would run.

Each :class:`Replica` has a lifecycle task: wait for ``/v2/health/ready`` (or the process to
die, or the start timeout), then check health every ``health_interval_s``; a dead process or
three failed checks in a row mark it ``failed``, and the controller replaces it. Processes start
in their own session, so a Ctrl-C in the terminal reaches ``cnai up`` (which stops them in order)
rather than every replica at once, and they survive a controller that is killed outright.

**Adoption.** A fresh controller finds the replicas its predecessor recorded in the status
(pid, port, template). It *adopts* those that are still ``cnai serve`` on that port (checked on
the pid's command line, so a reused pid is never touched) and answer ready; the normal
convergence then keeps or drains them like any other replica. Adopting rather than killing keeps
a restart of the controller from restarting every model. A recorded replica that is alive but
does not answer is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnai.deploy.router import Backend
from cnai.deploy.upstream import UpstreamError, UpstreamPool

log = logging.getLogger("cnai.deploy.replicas")

STARTING, READY, FAILED, STOPPED = "starting", "ready", "failed", "stopped"
_REPLICA_ID = re.compile(r"(primary|canary)-([1-9][0-9]{0,4})")


def replica_id(value: object, port: object = None) -> str | None:
    """``value`` when it is a replica id (``primary-4711``; the port, when given, must match), else None.

    Ids name log files (:func:`replica_log_path`), so only this shape is ever turned into a path."""
    m = _REPLICA_ID.fullmatch(value) if isinstance(value, str) else None
    if m is None or (port is not None and m.group(2) != str(port)):
        return None
    return m.group(0)


def replica_log_path(home: Path, deployment: str, ident: str) -> Path:
    """Where replica ``ident`` (``primary-4711``) of ``deployment`` writes its stdout and stderr.

    Named after the id the replica was started with: a canary replica promoted to primary keeps
    ``canary-PORT.log``."""
    return home / "deployments" / deployment / f"{ident}.log"


@dataclass(frozen=True)
class ReplicaTemplate:
    """Everything that makes two replicas interchangeable; a change means a rolling update."""

    served_name: str
    model_uri: str  # pinned: models:/name/N (an alias already resolved) or a local directory
    version: str
    max_batch_size: int | None = None
    max_batch_delay_ms: float | None = None
    max_memory: str | None = None
    llm_options: tuple[tuple[str, int], ...] = ()  # (cnai serve flag, value) for a GGUF model
    llm_switches: tuple[str, ...] = ()  # cnai serve flags without a value (--llm-capture-content)

    @property
    def revision(self) -> str:
        fields = asdict(self)
        for name in ("llm_options", "llm_switches"):
            if not fields[name]:  # absent before these options existed: the same revision as then
                del fields[name]
        return hashlib.sha1(repr(sorted(fields.items())).encode()).hexdigest()[:10]

    def args(self, host: str, port: int) -> list[str]:
        out = ["serve", f"{self.served_name}={self.model_uri}", "--host", host, "--port", str(port)]
        if self.max_batch_size is not None:
            out += ["--max-batch-size", str(self.max_batch_size)]
        if self.max_batch_delay_ms is not None:
            out += ["--max-batch-delay-ms", str(self.max_batch_delay_ms)]
        if self.max_memory is not None:
            out += ["--max-memory", self.max_memory]
        for flag, value in self.llm_options:
            out += [flag, str(value)]
        out += self.llm_switches
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicaTemplate:
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        # JSON gave lists back; a record written before llm_options existed has none.
        fields["llm_options"] = tuple((str(f), int(v)) for f, v in fields.get("llm_options") or ())
        fields["llm_switches"] = tuple(str(f) for f in fields.get("llm_switches") or ())
        return cls(**fields)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(
        self,
        role: str,
        template: ReplicaTemplate,
        host: str,
        port: int,
        pid: int,
        proc: subprocess.Popen[bytes] | None,
        ident: str | None = None,
    ) -> None:
        self.role, self.template, self.host, self.port, self.pid = role, template, host, port, pid
        self.id = ident or f"{role}-{port}"  # kept when a promoted canary replica becomes a primary one
        self.state = STARTING
        self.ready_at: float | None = None
        self.error: str | None = None
        self.backend = Backend(self.id, host, port, template.version)
        self._proc = proc  # None when adopted: not our child, watched by pid
        self.task: asyncio.Task[None] | None = None

    @property
    def adopted(self) -> bool:
        return self._proc is None

    def alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return pid_alive(self.pid)

    def record(self) -> dict[str, Any]:
        """What the status keeps so a fresh controller can adopt this replica."""
        return {
            "id": self.id,
            "pid": self.pid,
            "port": self.port,
            "role": self.role,
            "state": self.state,
            "revision": self.template.revision,
            "template": self.template.to_dict(),
        }

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self._proc is not None:
                self._proc.send_signal(sig)
            else:
                os.kill(self.pid, sig)

    def __repr__(self) -> str:
        return f"Replica({self.id}, pid={self.pid}, {self.state}, v{self.template.version})"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie answers signal 0 but is gone
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return True


def command_line(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        pass
    try:  # no /proc (macOS)
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return []
    return out.stdout.split()


def is_our_replica(pid: int, port: int) -> bool:
    """``pid`` is a ``cnai serve`` on ``port`` (not some other process that reused the pid)."""
    args = command_line(pid)
    return "serve" in args and "--port" in args and str(port) in args


class Launcher:
    """Starts, watches and stops replica processes; one per controller."""

    def __init__(
        self,
        *,
        home: Path,
        tracking_uri: str,
        tracking_token: str = "",
        host: str = "127.0.0.1",
        serve_args: Sequence[str] = (),
        start_timeout_s: float = 180.0,
        health_interval_s: float = 1.0,
        stop_grace_s: float = 10.0,
        command: Sequence[str] | None = None,
    ) -> None:
        self.home = home
        self.tracking_uri = tracking_uri
        self.tracking_token = tracking_token
        self.host = host
        self.serve_args = list(serve_args)
        self.start_timeout_s = start_timeout_s
        self.health_interval_s = health_interval_s
        self.stop_grace_s = stop_grace_s
        self.command = list(command) if command else [sys.executable, "-m", "cnai.cli.main"]

    def log_path(self, deployment: str, role: str, port: int) -> Path:
        """Where a replica's stdout and stderr go."""
        return replica_log_path(self.home, deployment, f"{role}-{port}")

    def replica_log(self, deployment: str, replica: Replica) -> Path:
        return replica_log_path(self.home, deployment, replica.id)

    def spawn(self, deployment: str, role: str, template: ReplicaTemplate, on_change: Callable[[], None]) -> Replica:
        port = free_port(self.host)
        self.log_path(deployment, role, port).parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CNAI_HOME": str(self.home)}
        if self.tracking_uri:
            env["CNAI_TRACKING_URI"] = self.tracking_uri
        if self.tracking_token:  # the mlflow client in `cnai serve` downloads registry models with it
            env["MLFLOW_TRACKING_TOKEN"] = self.tracking_token
        cmd = [*self.command, *template.args(self.host, port), *self.serve_args]
        with self.log_path(deployment, role, port).open("ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        replica = Replica(role, template, self.host, port, proc.pid, proc)
        log.info("%s: started %s (pid %d) serving %s", deployment, replica.id, proc.pid, template.model_uri)
        replica.task = asyncio.create_task(self._lifecycle(replica, on_change), name=f"{deployment}-{replica.id}")
        return replica

    def adopt(self, record: dict[str, Any], on_change: Callable[[], None]) -> Replica | None:
        """A replica recorded by an earlier controller, if it is still ours and alive; see the module doc."""
        try:
            pid, port, role = int(record["pid"]), int(record["port"]), str(record["role"])
            template = ReplicaTemplate.from_dict(record["template"])
        except (KeyError, TypeError, ValueError):
            return None
        if not pid_alive(pid) or not is_our_replica(pid, port):
            return None
        replica = Replica(role, template, self.host, port, pid, None, ident=replica_id(record.get("id"), port))
        replica.task = asyncio.create_task(self._lifecycle(replica, on_change), name=f"adopted-{replica.id}")
        return replica

    async def _lifecycle(self, replica: Replica, on_change: Callable[[], None]) -> None:
        probe = UpstreamPool(replica.host, replica.port, connect_timeout=1.0, max_idle=1)
        try:
            deadline = time.monotonic() + self.start_timeout_s
            while replica.state == STARTING:
                if not replica.alive():
                    replica.state, replica.error = FAILED, "exited before it was ready"
                elif time.monotonic() > deadline:
                    replica.state, replica.error = FAILED, f"not ready after {self.start_timeout_s:g} s"
                    replica.signal(signal.SIGKILL)
                elif await _ready(probe):
                    replica.state, replica.ready_at = READY, time.monotonic()
                else:
                    await asyncio.sleep(0.1)
            on_change()
            misses = 0
            while replica.state == READY:
                await asyncio.sleep(self.health_interval_s)
                if replica.state != READY:
                    break
                if not replica.alive():
                    replica.state, replica.error = FAILED, "exited"
                    break
                misses = 0 if await _ready(probe) else misses + 1
                if misses >= 3:
                    replica.state, replica.error = FAILED, "failed 3 health checks in a row"
                    replica.signal(signal.SIGKILL)
            if replica.state == FAILED:
                log.warning("replica %s (pid %d) failed: %s", replica.id, replica.pid, replica.error)
                on_change()
        finally:
            probe.close()

    async def stop(self, replica: Replica) -> None:
        """SIGTERM (uvicorn finishes in-flight requests), then SIGKILL after the grace period."""
        if replica.state != FAILED:
            replica.state = STOPPED
        if replica.task is not None:
            replica.task.cancel()
        replica.backend.pool.close()
        replica.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        while replica.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if replica.alive():
            replica.signal(signal.SIGKILL)
            while replica.alive() and time.monotonic() < deadline + 5:
                await asyncio.sleep(0.05)


async def _ready(probe: UpstreamPool) -> bool:
    try:
        status, _, _ = await probe.request("GET", b"/v2/health/ready", [], b"", 2.0)
    except UpstreamError:
        return False
    return status == 200


def kill_recorded(record: dict[str, Any]) -> None:
    """Kill a recorded replica that is still ours but could not be adopted (it does not answer)."""
    try:
        pid, port = int(record["pid"]), int(record["port"])
    except (KeyError, TypeError, ValueError):
        return
    if pid_alive(pid) and is_our_replica(pid, port):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
