"""cnai's tracking server against the stock MLflow tracking server: one run, same machine, same client.

    python bench/tracking.py                   # full sizes, SQLite and PostgreSQL, 3 rounds (what `make bench` runs)
    python bench/tracking.py --quick           # small sizes, 1 round: a smoke run in about a minute per backend
    python bench/tracking.py --backend sqlite --only a,b --servers stock-w1,cnai
    python bench/tracking.py --cnai-only --only c,d   # cnai alone, for quick before/after checks
    python bench/tracking_floor.py                    # (c) and (d) against a replay: the client's floor
    python bench/tracking_server_cpu.py               # cnai server CPU per call, run and search

Servers, each started fresh on an empty database of the same kind:
  stock     `mlflow server` as it starts by default (4 uvicorn workers), in bench/.venvs/mlflow-stock
  stock-w1  the same with `--workers 1`, its faster setting for a single client
  cnai      `cnai server` from the environment running this script, with its defaults

Each server is started with its own defaults: CNAI_* and MLFLOW_* variables of the shell are left
out of its environment. Every server runs the same `--repeat` rounds (default 3), servers in
rotation, and the table shows the median of each number over the rounds, for every server alike.

Scenarios, driven by the stock `mlflow` client of this environment in a fresh process per
(server, scenario), so no connection pool or cache carries over between servers:
  (a) single log_metric calls            (b) metric points via log_batch, 1,000 per batch
  (c) runs x 10 params x 10 metrics      (d) search_runs with a filter over the runs of (c)
  (e) an artifact uploaded and downloaded again

The server runs on one half of the cores and the client on the other. Results go to the
terminal and, as Markdown for the README, to bench/results/tracking.md (full runs) or
bench/.work/tracking/tracking.md (--quick or partial runs).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # bench/ is not a package; its helpers sit beside this file
    PG_BASE_URL,
    RESULTS_DIR,
    SERVER_ENV_PREFIXES,
    VENVS_DIR,
    WORK_DIR,
    BenchError,
    Cleanup,
    bench_lock,
    core_plan,
    create_database,
    drop_database,
    ensure_venv,
    free_port,
    load_average,
    machine_summary,
    now_utc,
    postgres_version,
    sigterm_as_interrupt,
    sqlite_version,
    start_process,
    venv_output,
    wait_healthy,
)

STOCK_VERSION = "3.17.2"
STOCK_VENV = VENVS_DIR / "mlflow-stock"
STOCK_REQUIREMENTS = [f"mlflow=={STOCK_VERSION}", "psycopg2-binary"]
STOCK_CHECK = f"import mlflow, psycopg2; assert mlflow.__version__ == {STOCK_VERSION!r}"
LOAD_SCRIPT = Path(__file__).resolve().parent / "_tracking_load.py"
TRACKING_WORK = WORK_DIR / "tracking"
SCENARIO_TIMEOUT_S = 1800

console = Console()
TIMES = "\u00d7"  # the multiplication sign, spelled out so linters do not take it for an x


# --- what is measured -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    a_calls: int
    b_points: int
    c_runs: int
    d_searches: int
    e_mb: int


FULL = Sizes(a_calls=2000, b_points=100_000, c_runs=200, d_searches=20, e_mb=50)
DEFAULT_REPEAT = 3
QUICK = Sizes(a_calls=200, b_points=10_000, c_runs=20, d_searches=20, e_mb=5)


@dataclass(frozen=True)
class Row:
    """One line of the table: which load result it reads and how it turns it into a number."""

    key: str  # result key from the load script
    scenario: str  # the letter the issue uses
    label: Callable[[Sizes], str]
    unit: str
    per_op: bool  # milliseconds per operation, else seconds in total
    # Required speedup of cnai over (stock default, stock --workers 1); None: reported only.
    target: tuple[float, float] | None

    def value(self, result: dict[str, Any], field: str = "seconds") -> float:
        """Smaller is better. `field="client_cpu_s"` gives the client's share of the same number."""
        seconds = float(result[field])
        return seconds / max(int(result["ops"]), 1) * 1000 if self.per_op else seconds


ROWS = [
    Row("a", "a", lambda s: f"(a) {s.a_calls:,} {TIMES} log_metric", "ms/call", True, (5, 3)),
    Row("b", "b", lambda s: f"(b) {s.b_points:,} points, log_batch of 1,000", "s total", False, (10, 10)),
    Row("c", "c", lambda s: f"(c) {s.c_runs} runs {TIMES} 10 params {TIMES} 10 metrics", "ms/run", True, (5, 3)),
    Row("d", "d", lambda s: f"(d) {s.d_searches} {TIMES} search_runs, filtered", "ms/search", True, (3, 3)),
    Row("e_up", "e", lambda s: f"(e) {s.e_mb} MB artifact up", "s", False, None),
    Row("e_down", "e", lambda s: f"(e) {s.e_mb} MB artifact down", "s", False, None),
]


# --- the servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    key: str
    label: str
    argv: Callable[[int, str, Path], list[str]]  # (port, store URL, artifact dir) -> command
    store_url: Callable[[str, Path, str], str]  # (backend, work dir, database) -> URL


def _stock_argv(workers: int | None) -> Callable[[int, str, Path], list[str]]:
    def argv(port: int, store: str, artifacts: Path) -> list[str]:
        cmd = [
            str(STOCK_VENV / "bin" / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            store,
            "--serve-artifacts",
            "--artifacts-destination",
            str(artifacts),
        ]
        return [*cmd, "--workers", str(workers)] if workers else cmd

    return argv


def _stock_store(backend: str, work: Path, database: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{work / 'mlflow.db'}"
    # psycopg2 named explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
    return PG_BASE_URL.replace("postgresql://", "postgresql+psycopg2://", 1) + f"/{database}"


def _cnai_argv(port: int, store: str, artifacts: Path) -> list[str]:
    cnai = Path(sys.executable).parent / "cnai"
    exe = str(cnai) if cnai.exists() else (shutil.which("cnai") or "cnai")
    return [
        exe,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        store,
        "--artifacts",
        artifacts.as_uri(),
    ]  # nothing else: cnai's defaults, as the stock server gets its own


def _cnai_store(backend: str, work: Path, database: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{work / 'cnai.db'}"
    return PG_BASE_URL.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{database}"


SERVERS = {
    "stock": Server("stock", "stock MLflow (4 workers, default)", _stock_argv(None), _stock_store),
    "stock-w1": Server("stock-w1", "stock MLflow --workers 1", _stock_argv(1), _stock_store),
    "cnai": Server("cnai", "cnai", _cnai_argv, _cnai_store),
}


# --- running ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Results per backend, server and row key, one per round; errors for steps that failed."""

    results: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = field(default_factory=dict)
    errors: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    startup_s: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def put(self, backend: str, server: str, result: dict[str, Any]) -> None:
        per = self.results.setdefault(backend, {}).setdefault(server, {})
        per.setdefault(result["scenario"], []).append(result)

    def fail(self, backend: str, server: str, scenario: str, message: str) -> None:
        self.errors.setdefault(backend, {}).setdefault(server, {})[scenario] = message


def _scenario_argv(scenario: str, sizes: Sizes) -> list[str]:
    n = {"a": sizes.a_calls, "b": sizes.b_points, "c": sizes.c_runs, "d": sizes.d_searches, "e": 0}[scenario]
    # (d) searches the runs that (c) created, so both use (c)'s experiment.
    experiment = "bench-c" if scenario == "d" else f"bench-{scenario}"
    argv = [sys.executable, str(LOAD_SCRIPT), scenario, "--experiment", experiment, "--n", str(n)]
    return [*argv, "--runs", str(sizes.c_runs), "--mb", str(sizes.e_mb)]


def _run_load(scenario: str, sizes: Sizes, port: int, cores: set[int] | None) -> list[dict[str, Any]]:
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    proc = start_process(
        f"load {scenario}",
        _scenario_argv(scenario, sizes),
        log_path=TRACKING_WORK / "logs" / f"load-{scenario}-{port}.log",
        env=env,
        cores=cores,
    )
    try:
        proc.popen.wait(timeout=SCENARIO_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"({scenario}) ran past {SCENARIO_TIMEOUT_S}s") from exc
    finally:
        proc.stop()
    lines = proc.log_path.read_text(errors="replace").strip().splitlines()
    if proc.popen.returncode != 0 or not lines:
        raise BenchError(f"({scenario}) failed ({proc.popen.returncode}):\n{proc.log_tail(15)}")
    try:
        parsed: list[dict[str, Any]] = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise BenchError(f"({scenario}) printed no result:\n{proc.log_tail(15)}") from exc
    return parsed


def _fmt_number(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _measure_server(
    backend: str,
    server: Server,
    scenarios: list[str],
    sizes: Sizes,
    outcome: Outcome,
    progress: Progress,
    task: Any,
) -> None:
    server_cores, client_cores = core_plan()
    work = TRACKING_WORK / f"{backend}-{server.key}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "artifacts").mkdir(parents=True)
    database = f"cnai_bench_{server.key.replace('-', '_')}_{backend}"
    with Cleanup() as cleanup:
        cleanup.push(f"remove {work}", lambda: shutil.rmtree(work, ignore_errors=True))
        if backend == "postgres":
            create_database(database)
            cleanup.push(f"drop database {database}", lambda: drop_database(database))
        port = free_port()
        progress.update(task, description=f"{backend} · {server.label} · starting")
        proc = start_process(
            server.key,
            server.argv(port, server.store_url(backend, work, database), work / "artifacts"),
            log_path=TRACKING_WORK / "logs" / f"server-{backend}-{server.key}.log",
            cores=server_cores,
            cwd=work,
            drop_env=SERVER_ENV_PREFIXES,  # each server with its own defaults, not the shell's settings
        )
        cleanup.push(f"stop {server.key}", proc.stop)
        try:
            ready = wait_healthy(proc, f"http://127.0.0.1:{port}/health")
        except BenchError as exc:
            for scenario in scenarios:
                outcome.fail(backend, server.key, scenario, str(exc))
            progress.console.print(f"[red]{backend} · {server.label}: {exc}[/]")
            progress.advance(task, len(scenarios) + 1)
            return
        outcome.startup_s.setdefault(backend, {}).setdefault(server.key, []).append(ready)
        progress.advance(task)
        for scenario in scenarios:
            progress.update(task, description=f"{backend} · {server.label} · ({scenario})")
            try:
                for result in _run_load(scenario, sizes, port, client_cores):
                    outcome.put(backend, server.key, result)
                    row = next(r for r in ROWS if r.key == result["scenario"])
                    progress.console.print(
                        f"  {backend:<8} {server.key:<8} {row.label(sizes):<46} "
                        f"[bold]{_fmt_number(row.value(result))}[/] {row.unit}  "
                        f"[dim](p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
                        f"client CPU {_fmt_number(row.value(result, 'client_cpu_s'))}; "
                        f"{result['check']})[/]"
                    )
            except BenchError as exc:
                outcome.fail(backend, server.key, scenario, str(exc))
                progress.console.print(f"[red]{backend} · {server.label} · ({scenario}): {exc}[/]")
            progress.advance(task)
            if not proc.alive():
                progress.console.print(f"[red]{server.label} died:[/]\n{proc.log_tail()}")
                break


# --- reporting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    stock: float | None
    stock_w1: float | None
    cnai: float | None
    floor: float | None  # the client's own CPU time in cnai's run, same unit

    def ratio(self, base: float | None) -> float | None:
        return base / self.cnai if base is not None and self.cnai else None


def _cells(outcome: Outcome, backend: str) -> list[tuple[Row, Cell]]:
    per = outcome.results.get(backend, {})

    def val(server: str, row: Row, field: str = "seconds") -> float | None:
        # With --repeat, the median over rounds: robust to one round that met a busy machine.
        rounds = per.get(server, {}).get(row.key, [])
        return statistics.median(row.value(r, field) for r in rounds) if rounds else None

    out = []
    for row in ROWS:
        floor = val("cnai", row, "client_cpu_s")
        cell = Cell(val("stock", row), val("stock-w1", row), val("cnai", row), floor)
        if cell.stock is cell.stock_w1 is cell.cnai is None:
            continue
        out.append((row, cell))
    return out


def _met(row: Row, cell: Cell) -> str:
    if row.target is None:
        return "—"
    checks = [(cell.ratio(cell.stock), row.target[0]), (cell.ratio(cell.stock_w1), row.target[1])]
    known = [(r, t) for r, t in checks if r is not None]
    if not known:
        return "—"
    ok = all(r >= t for r, t in known)
    partial = " (partial)" if len(known) < len(checks) else ""
    return ("yes" if ok else "no") + partial


def _target_text(row: Row) -> str:
    if row.target is None:
        return "—"
    a, b = row.target
    return f"≥{a:g}{TIMES} / ≥{b:g}{TIMES}"


def _x(r: float | None) -> str:
    return "—" if r is None else f"{r:.1f}{TIMES}"


def _n(v: float | None) -> str:
    return "—" if v is None else _fmt_number(v)


def _table_rows(outcome: Outcome, backend: str, sizes: Sizes) -> list[list[str]]:
    rows = []
    for row, cell in _cells(outcome, backend):
        rows.append(
            [
                f"{row.label(sizes)}, {row.unit}",
                _n(cell.stock),
                _n(cell.stock_w1),
                _n(cell.cnai),
                _x(cell.ratio(cell.stock)),
                _x(cell.ratio(cell.stock_w1)),
                _n(cell.floor),
                _target_text(row),
                _met(row, cell),
            ]
        )
    return rows


HEADERS = [
    "scenario",
    "stock (4 workers)",
    "stock --workers 1",
    "cnai",
    f"cnai {TIMES} vs 4 workers",
    f"cnai {TIMES} vs workers 1",
    "client CPU in cnai's run",
    "target (vs 4 w / vs 1 w)",
    "met",
]


# The terminal gets short headers so the table fits 100 columns; the Markdown spells them out.
SHORT_HEADERS = [
    "scenario",
    "stock 4w",
    "stock 1w",
    "cnai",
    f"{TIMES} 4w",
    f"{TIMES} 1w",
    "client CPU",
    "target",
    "met",
]


def _print_tables(outcome: Outcome, backends: list[str], sizes: Sizes) -> None:
    for backend in backends:
        table = Table(title=f"tracking · {backend} · smaller is better", title_justify="left")
        for i, header in enumerate(SHORT_HEADERS):
            table.add_column(header, justify="left" if i in (0, 7) else "right")
        for cells in _table_rows(outcome, backend, sizes):
            style = {"no": "red", "yes": "green"}.get(cells[-1].split()[0], "")
            table.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/]" if style else cells[-1])
        console.print(table)


@dataclass(frozen=True)
class Facts:
    date: str
    machine: str
    stock_mlflow: str
    stock_python: str
    stock_sqlite: str
    client_mlflow: str
    cnai: str
    python: str
    sqlite: str
    postgres: str | None
    pinning: str
    load_before: str


def _facts(backends: list[str], servers: list[str]) -> Facts:
    server_cores, client_cores = core_plan()
    pinning = (
        f"server on cores {sorted(server_cores)}, client on cores {sorted(client_cores)}"
        if server_cores and client_cores
        else "no CPU pinning (fewer than 2 cores)"
    )
    uses_stock = any(s.startswith("stock") for s in servers)
    stock = (
        venv_output(
            STOCK_VENV,
            "import mlflow, platform, sqlite3; "
            "print(mlflow.__version__, platform.python_version(), sqlite3.sqlite_version)",
        ).split()
        if uses_stock
        else ["—", "—", "—"]
    )
    return Facts(
        date=now_utc(),
        machine=machine_summary(),
        stock_mlflow=stock[0],
        stock_python=stock[1],
        stock_sqlite=stock[2],
        client_mlflow=importlib.metadata.version("mlflow"),
        cnai=importlib.metadata.version("cnai") if "cnai" in servers else "—",
        python=platform.python_version(),
        sqlite=sqlite_version(),
        postgres=postgres_version() if "postgres" in backends else None,
        pinning=pinning,
        load_before=load_average(),
    )


def _markdown(outcome: Outcome, backends: list[str], sizes: Sizes, facts: Facts, command: str, repeat: int) -> str:
    lines = [
        "## Tracking server: cnai against the stock MLflow server",
        "",
        f"Measured {facts.date} with `{command}`, every server in the same run"
        " (`make bench` runs `python bench/tracking.py`).",
        "",
        f"- Machine: {facts.machine}; {facts.pinning}; PostgreSQL not pinned.",
        f"- Load average (1, 5, 15 min) before the run: {facts.load_before}; after: {load_average()}.",
        f"- Stock server: mlflow {facts.stock_mlflow} (Python {facts.stock_python},"
        f" SQLite {facts.stock_sqlite}), `mlflow server --serve-artifacts`, default 4 workers and `--workers 1`.",
        f"- cnai {facts.cnai} (Python {facts.python}, SQLite {facts.sqlite}), `cnai server` with its defaults.",
        f"- Client: the stock mlflow {facts.client_mlflow} client (`MlflowClient`),"
        " a fresh process per server and scenario, calls in sequence.",
    ]
    if facts.postgres:
        lines.append(f"- PostgreSQL {facts.postgres} on the same machine; a fresh database per server.")
    lines += [
        "- Each server starts on an empty store; every scenario checks what was stored afterwards, untimed.",
        f"- Numbers: time per call (or total), smaller is better; {TIMES} = stock time / cnai time"
        + (f"; each the median of {repeat} rounds, servers in rotation." if repeat > 1 else "; one round."),
        "- Client CPU: the CPU time the mlflow client itself spent (serialising, validating) during cnai's"
        " run of the scenario, in the same unit: a floor that no server can go under.",
    ]
    for backend in backends:
        title = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[backend]
        lines += ["", f"### {title}", "", "| " + " | ".join(HEADERS) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * 6 + [":---", ":---"]) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in _table_rows(outcome, backend, sizes)]
        for server, per in outcome.errors.get(backend, {}).items():
            for message, scenarios in _group_errors(per).items():
                lines.append(f"\n{SERVERS[server].label}, ({', '.join(scenarios)}) failed: {message}")
    return "\n".join(lines) + "\n"


def _group_errors(per_scenario: dict[str, str]) -> dict[str, list[str]]:
    """One line per distinct failure: its first and last lines (the last is usually the exception)."""
    grouped: dict[str, list[str]] = {}
    for scenario, message in per_scenario.items():
        lines = [line.strip() for line in message.strip().splitlines() if line.strip()] or ["failed"]
        short = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
        grouped.setdefault(short, []).append(scenario)
    return grouped


def _raw_json(outcome: Outcome, sizes: Sizes, facts: Facts) -> str:
    return json.dumps(
        {
            "facts": facts.__dict__,
            "sizes": sizes.__dict__,
            "results": outcome.results,
            "errors": outcome.errors,
            "startup_s": outcome.startup_s,
        },
        indent=2,
    )


# --- entry point ------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--servers", default="stock,stock-w1,cnai", help="comma list: stock,stock-w1,cnai")
    parser.add_argument("--cnai-only", action="store_true", help="same as --servers cnai")
    parser.add_argument("--only", default="a,b,c,d,e", help="comma list of scenarios a..e (d needs c)")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument(
        "--repeat",
        type=int,
        help=f"rounds per server, in rotation; the table shows medians [default: {DEFAULT_REPEAT}, 1 with --quick]",
    )
    parser.add_argument("--output", type=Path, help="Markdown file to write (JSON beside it)")
    parser.add_argument("--stock-python", default=shutil.which("python3.11") or sys.executable)
    parser.add_argument("--strict", action="store_true", help="exit 1 on a missed target or failed step")
    args = parser.parse_args(argv)
    args.server_list = ["cnai"] if args.cnai_only else [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.server_list) - set(SERVERS)
    if unknown or not args.server_list:
        parser.error(f"unknown servers {sorted(unknown)}; choose from {sorted(SERVERS)}")
    args.scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    if set(args.scenarios) - set("abcde") or not args.scenarios:
        parser.error("--only takes letters from a,b,c,d,e")
    if "d" in args.scenarios and "c" not in args.scenarios:
        args.scenarios.append("c")  # (d) searches the runs (c) creates
    args.scenarios = sorted(set(args.scenarios))
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.repeat is None:
        args.repeat = 1 if args.quick else DEFAULT_REPEAT
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    sizes = QUICK if args.quick else FULL
    full = not args.quick and args.scenarios == list("abcde") and len(args.server_list) == len(SERVERS)
    output: Path = args.output or (RESULTS_DIR if full else TRACKING_WORK) / "tracking.md"

    if "postgres" in args.backends and postgres_version() is None:
        if args.backend == "postgres":
            console.print(f"[red]PostgreSQL at {PG_BASE_URL} does not answer[/]")
            return 2
        console.print(f"[yellow]PostgreSQL at {PG_BASE_URL} does not answer; SQLite only[/]")
        args.backends = ["sqlite"]

    shutil.rmtree(TRACKING_WORK / "logs", ignore_errors=True)  # logs of this run only
    TRACKING_WORK.mkdir(parents=True, exist_ok=True)
    if any(s.startswith("stock") for s in args.server_list):
        log = TRACKING_WORK / "logs" / "stock-venv-install.log"
        try:
            with console.status(f"installing mlflow=={STOCK_VERSION} into {STOCK_VENV} (log: {log})"):
                installed = ensure_venv(
                    STOCK_VENV, STOCK_REQUIREMENTS, STOCK_CHECK, python=args.stock_python, log_path=log
                )
        except BenchError as exc:
            console.print(f"[red]{exc}[/]")
            return 2
        state = "installed" if installed else "present"
        console.print(f"stock server: mlflow=={STOCK_VERSION} in {STOCK_VENV} ({state})")

    facts = _facts(args.backends, args.server_list)
    console.print(f"{facts.machine}; {facts.pinning}")
    outcome = Outcome()
    steps = args.repeat * len(args.backends) * len(args.server_list) * (len(args.scenarios) + 1)
    started = time.monotonic()
    try:
        with (
            bench_lock(),
            sigterm_as_interrupt(),
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            task = progress.add_task("starting", total=steps)
            for backend in args.backends:
                # Rounds rotate through every server before repeating, so a slow spell on the
                # machine is shared out rather than landing on one server's every round.
                for _ in range(args.repeat):
                    for key in args.server_list:
                        _measure_server(backend, SERVERS[key], args.scenarios, sizes, outcome, progress, task)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; servers stopped and databases dropped[/]")
        return 130

    _print_tables(outcome, args.backends, sizes)
    command = " ".join(["python bench/tracking.py", *(argv if argv is not None else sys.argv[1:])])
    markdown = _markdown(outcome, args.backends, sizes, facts, command, args.repeat)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown)
    output.with_suffix(".json").write_text(_raw_json(outcome, sizes, facts))
    print(markdown)  # plain, unwrapped, ready to paste
    console.print(f"wrote {output} in {time.monotonic() - started:.0f}s")

    missed = any(_met(row, cell).startswith("no") for b in args.backends for row, cell in _cells(outcome, b))
    failed = bool(outcome.errors)
    if failed:
        console.print("[red]some steps failed; see above and bench/.work/tracking/logs[/]")
    return 1 if args.strict and (missed or failed) else 0


if __name__ == "__main__":
    sys.exit(main())
