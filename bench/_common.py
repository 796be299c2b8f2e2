"""Shared plumbing for the benchmarks: processes, ports, databases, venvs, machine facts.

Everything a benchmark starts goes through `Cleanup`, so servers and databases are stopped and
dropped even when the run fails or is interrupted with Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_DIR = BENCH_DIR / "results"

# Every benchmark holds this lock while it measures, so two benchmarks never share the machine.
LOCK_PATH = os.environ.get("CNAI_BENCH_LOCK", "/tmp/cnai-bench.lock")  # another path: run beside a held lock
# Settings of the shell that would move a benchmarked server off its defaults; left out of its env.
SERVER_ENV_PREFIXES = ("CNAI_", "MLFLOW_")

# Telemetry off for every process we start: no server or client should spend time phoning home.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}


class BenchError(RuntimeError):
    """A benchmark could not run (a server did not start, a check failed)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def core_plan() -> tuple[set[int] | None, set[int] | None]:
    """Cores for (server, client): apart when the machine has two or more, else no pinning.

    Pinning keeps the client's CPU time from being charged to the server and the other way
    round; with one core there is nothing to separate.
    """
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cores) < 2:
        return None, None
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


def _pinned(cores: set[int] | None) -> Callable[[], None] | None:
    if not cores:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cores)

    return pin


@dataclass
class Process:
    """A child process started in its own session, so stopping it stops its workers too."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        # The child leads its own process group (start_new_session); signalling that group by the
        # id we started reaches uvicorn/gunicorn workers without touching anything else.
        pgid = self.popen.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.popen.wait(timeout=grace_s)
        # Workers can outlive a master that exited first; sweep the group once more.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cores: set[int] | None = None,
    cwd: Path | None = None,
    drop_env: Sequence[str] = (),
) -> Process:
    """Start `argv` in its own session; `drop_env` lists prefixes of inherited variables to leave out
    (e.g. ``CNAI_`` so a benchmarked server runs with its defaults, not the shell's settings)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    inherited = {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in drop_env)}
    full_env = {**inherited, **QUIET_ENV, **(env or {})}
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_pinned(cores),
        )
    return Process(name=name, popen=popen, log_path=log_path)


def wait_healthy(proc: Process, url: str, timeout_s: float = 180.0) -> float:
    """Poll `url` until it answers 200; returns the seconds it took. Fails early if the process dies."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    raise BenchError(f"{proc.name} did not answer {url} within {timeout_s:.0f}s:\n{proc.log_tail()}")


@dataclass
class Cleanup:
    """Undo actions run last-in first-out, once, whatever happened before."""

    actions: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, label: str, action: Callable[[], None]) -> None:
        self.actions.append((label, action))

    def run(self) -> list[str]:
        errors: list[str] = []
        while self.actions:
            label, action = self.actions.pop()
            try:
                action()
            except Exception as exc:  # keep undoing the rest
                errors.append(f"{label}: {exc}")
        return errors

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, *exc: object) -> None:
        for err in self.run():
            print(f"cleanup: {err}", file=sys.stderr)


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    """Hold LOCK_PATH; wait (and say so) while another benchmark holds it."""
    with open(LOCK_PATH, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK_PATH} (another benchmark is running)...", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into KeyboardInterrupt so `finally` blocks stop what the bench started.

    SIGINT is set explicitly because a shell starting the bench in the background leaves it ignored.
    """

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- PostgreSQL -------------------------------------------------------------------------------

# Server part of the URL (no database); the bench creates and drops its own databases on it.
PG_BASE_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
PG_ADMIN_DSN = f"{PG_BASE_URL}/postgres"


def _pg_admin(statement: str, database: str | None = None) -> list[tuple[object, ...]]:
    """Run one statement on the admin database; `{}` in it stands for `database`, quoted as a name."""
    import psycopg
    from psycopg import sql

    # A database name cannot be a bound parameter; sql.Identifier quotes it instead.
    query = sql.SQL(statement).format(sql.Identifier(database)) if database else sql.SQL(statement)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


def postgres_version() -> str | None:
    try:
        rows = _pg_admin("SHOW server_version")
    except Exception:
        return None
    return str(rows[0][0]).split()[0]


def create_database(name: str) -> None:
    _pg_admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    _pg_admin("CREATE DATABASE {}", name)


def drop_database(name: str) -> None:
    _pg_admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


# --- virtual environments ---------------------------------------------------------------------


def ensure_venv(path: Path, requirements: Sequence[str], check: str, *, python: str, log_path: Path) -> bool:
    """Create `path` with `requirements` unless `check` already runs in it; True if it installed."""
    bin_python = path / "bin" / "python"
    if bin_python.exists():
        probe = subprocess.run([str(bin_python), "-c", check], capture_output=True, check=False)
        if probe.returncode == 0:
            return False
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        for argv in (
            [python, "-m", "venv", str(path)],
            [str(bin_python), "-m", "pip", "install", "--progress-bar", "off", "-q", *requirements],
        ):
            done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                raise BenchError(f"{' '.join(argv)} failed ({done.returncode}):\n{tail}")
    final = subprocess.run([str(bin_python), "-c", check], capture_output=True, text=True, check=False)
    if final.returncode != 0:
        raise BenchError(f"{path} installed but its check failed:\n{final.stderr}")
    return True


def venv_output(path: Path, code: str) -> str:
    done = subprocess.run([str(path / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


# --- facts about the run ----------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def machine_summary() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = memory_gib()
    mem_text = f", {mem:.0f} GiB RAM" if mem else ""
    return f"{cores} cores ({cpu_model()}){mem_text}, {platform.system()} {platform.release()}{_autogroup_note()}"


def _autogroup_note() -> str:
    """With autogroup on, Linux shares the CPU equally between sessions whatever their nice values:
    a benchmark then gets whatever share the other sessions leave it. Said in the report."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return ""
    return "; scheduler autogroup ON (other sessions share the CPU equally with the benchmark)" if enabled else ""


def load_average() -> str:
    """Other work on the machine skews every number; the report says how busy it was."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def sqlite_version() -> str:
    return sqlite3.sqlite_version


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
