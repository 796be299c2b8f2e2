"""Where cnai's share of a tracking scenario goes: the server process's CPU time per operation.

    python bench/tracking_server_cpu.py                     # SQLite and PostgreSQL, (a), (c), (d)
    python bench/tracking_server_cpu.py --backend sqlite --rounds 3
    PYTHONPATH=OTHER_CHECKOUT/src python bench/tracking_server_cpu.py   # another version of cnai

`cnai server` starts on an empty store (pinned as in bench/tracking.py: server on one half of the
cores, client on the other) and the stock mlflow client runs bench/_tracking_load.py's scenarios
against it: (a) 2,000 log_metric calls, (c) 200 runs (create, log_batch of params, log_batch of
metrics, get, update: five requests a run) and (d) `--searches` filtered searches over (c)'s runs.
Around each scenario the server process's CPU time (all its threads, user and system, from
/proc) is read, and on PostgreSQL the CPU time of all `postgres` processes too. Both include the
scenario's few untimed set-up and check requests. (d) runs 200 searches by default, not
tracking.py's 20: /proc counts CPU in clock ticks (10 ms), too coarse for 20 searches.

Unlike bench/tracking.py, which gives the wall time a user sees, this gives what the server
itself spends: the part of the wall time the server can change. Takes the bench lock.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # bench/ is not a package; its helpers sit beside this file
    PG_BASE_URL,
    WORK_DIR,
    BenchError,
    Cleanup,
    bench_lock,
    core_plan,
    create_database,
    drop_database,
    free_port,
    load_average,
    start_process,
    wait_healthy,
)

HERE = Path(__file__).resolve().parent
LOAD_SCRIPT = HERE / "_tracking_load.py"
WORK = WORK_DIR / "tracking-server-cpu"
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int | str) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def _postgres_cpu_s() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("postgres"):
                    total += _cpu_s(entry.name)
            except OSError:  # gone meanwhile
                continue
    return total


def one_round(backend: str, searches: int) -> dict[str, dict[str, float]]:
    server_cores, client_cores = core_plan()
    work = WORK / backend
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    database = "cnai_bench_server_cpu"
    out: dict[str, dict[str, float]] = {}
    with Cleanup() as cleanup:
        cleanup.push(f"remove {work}", lambda: shutil.rmtree(work, ignore_errors=True))
        if backend == "postgres":
            create_database(database)
            cleanup.push(f"drop database {database}", lambda: drop_database(database))
            store = PG_BASE_URL.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{database}"
        else:
            store = f"sqlite:///{work / 'cnai.db'}"
        port = free_port()
        cnai = str(Path(sys.executable).parent / "cnai")
        argv = [cnai, "server", "--port", str(port), "--store", store, "--artifacts", (work / "artifacts").as_uri()]
        server = start_process(
            "cnai", argv, log_path=work / "server.log", cores=server_cores, cwd=work, drop_env=("CNAI_", "MLFLOW_")
        )
        cleanup.push("stop cnai", server.stop)
        wait_healthy(server, f"http://127.0.0.1:{port}/health")
        for scenario, n in (("a", 2000), ("c", 200), ("d", searches)):
            experiment = "bench-c" if scenario in "cd" else "bench-a"
            load = [sys.executable, str(LOAD_SCRIPT), scenario, "--experiment", experiment, "--n", str(n)]
            server_before, pg_before = _cpu_s(server.popen.pid), _postgres_cpu_s()
            proc = start_process(
                f"load {scenario}",
                [*load, "--runs", "200"],
                log_path=work / f"load-{scenario}.log",
                env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"},
                cores=client_cores,
            )
            proc.popen.wait(timeout=900)
            server_s, pg_s = _cpu_s(server.popen.pid) - server_before, _postgres_cpu_s() - pg_before
            lines = proc.log_path.read_text(errors="replace").strip().splitlines()
            if proc.popen.returncode != 0 or not lines:
                raise BenchError(f"({scenario}) failed:\n{proc.log_tail(15)}")
            result = json.loads(lines[-1])[0]
            ops = max(int(result["ops"]), 1)
            out[scenario] = {
                "wall_ms": result["seconds"] / ops * 1000,
                "client_cpu_ms": result["client_cpu_s"] / ops * 1000,
                "server_cpu_ms": server_s / ops * 1000,
                "postgres_cpu_ms": pg_s / ops * 1000 if backend == "postgres" else 0.0,
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--searches", type=int, default=200, help="searches in (d)")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"load before: {load_average()}")
    with bench_lock():
        for backend in backends:
            rounds = [one_round(backend, args.searches) for _ in range(args.rounds)]
            for scenario, unit in (("a", "ms/call"), ("c", "ms/run"), ("d", "ms/search")):
                cells = {k: statistics.median(r[scenario][k] for r in rounds) for k in rounds[0][scenario]}
                print(
                    f"{backend:<8} ({scenario}) {unit:<9} server CPU {cells['server_cpu_ms']:5.2f}"
                    + (f"  postgres CPU {cells['postgres_cpu_ms']:5.2f}" if backend == "postgres" else "")
                    + f"  wall {cells['wall_ms']:6.2f}  client CPU {cells['client_cpu_ms']:5.2f}"
                    + f"   [median of {args.rounds}]"
                )
    print(f"load after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
