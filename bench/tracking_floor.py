"""The client's floor in tracking scenarios (c) and (d): the same stock mlflow client calls, timed
against `cnai server` and against a server that only replays cnai's recorded response bytes.

    python bench/tracking_floor.py                      # SQLite and PostgreSQL, 3 rounds
    python bench/tracking_floor.py --backend sqlite --rounds 5

Per backend: `cnai server` starts on an empty store; (c) and (d) run against it directly (the
"cnai" numbers); then once more through a recording proxy (bench/_tracking_replay.py), and the
tape is replayed by a bare uvicorn app with nothing behind it (the "replay" numbers). The replay
time is what the client, the HTTP stack and the loopback cost with a server that costs nothing:
no server can make a scenario faster than that. Pinning as in bench/tracking.py: servers on one
half of the cores, the client on the other.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # bench/ is not a package; its helpers sit beside this file
    PG_BASE_URL,
    WORK_DIR,
    BenchError,
    Cleanup,
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
REPLAY_SCRIPT = HERE / "_tracking_replay.py"
FLOOR_WORK = WORK_DIR / "tracking-floor"
RUNS = 200
SEARCHES = 20


def _load(scenario: str, experiment: str, port: int, cores: set[int] | None, tag: str) -> dict[str, Any]:
    n = RUNS if scenario == "c" else SEARCHES
    argv = [sys.executable, str(LOAD_SCRIPT), scenario, "--experiment", experiment, "--n", str(n), "--runs", str(RUNS)]
    proc = start_process(
        f"load {scenario}",
        argv,
        log_path=FLOOR_WORK / "logs" / f"load-{tag}-{scenario}.log",
        env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"},
        cores=cores,
    )
    try:
        proc.popen.wait(timeout=900)
    finally:
        proc.stop()
    lines = proc.log_path.read_text(errors="replace").strip().splitlines()
    if proc.popen.returncode != 0 or not lines:
        raise BenchError(f"({scenario}) {tag} failed:\n{proc.log_tail(15)}")
    result: dict[str, Any] = json.loads(lines[-1])[0]
    return result


def _per_op_ms(result: dict[str, Any], field: str) -> float:
    return float(result[field]) / max(int(result["ops"]), 1) * 1000


def _server(argv: list[str], name: str, port: int, cores: set[int] | None, cleanup: Cleanup, cwd: Path) -> None:
    proc = start_process(name, argv, log_path=FLOOR_WORK / "logs" / f"{name}.log", cores=cores, cwd=cwd)
    cleanup.push(f"stop {name}", proc.stop)
    wait_healthy(proc, f"http://127.0.0.1:{port}/health")


def one_round(backend: str, round_no: int) -> dict[str, dict[str, dict[str, Any]]]:
    server_cores, client_cores = core_plan()
    work = FLOOR_WORK / f"{backend}-{round_no}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tape = work / "tape.pickle"
    database = f"cnai_bench_floor_{backend}"
    out: dict[str, dict[str, dict[str, Any]]] = {"cnai": {}, "replay": {}}
    with Cleanup() as cleanup:
        cleanup.push(f"remove {work}", lambda: shutil.rmtree(work, ignore_errors=True))
        if backend == "postgres":
            create_database(database)
            cleanup.push(f"drop database {database}", lambda: drop_database(database))
            store = PG_BASE_URL.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{database}"
        else:
            store = f"sqlite:///{work / 'cnai.db'}"
        with Cleanup() as servers:
            port = free_port()
            cnai = str(Path(sys.executable).parent / "cnai")
            argv = [cnai, "server", "--port", str(port), "--store", store, "--log-level", "warning"]
            _server([*argv, "--artifacts", (work / "artifacts").as_uri()], "cnai", port, server_cores, servers, work)
            for scenario in ("c", "d"):
                out["cnai"][scenario] = _load(scenario, "direct", port, client_cores, f"{backend}-cnai")
            proxy = free_port()
            record = [sys.executable, str(REPLAY_SCRIPT), "record", "--port", str(proxy), "--tape", str(tape)]
            _server([*record, "--upstream", f"http://127.0.0.1:{port}"], "record", proxy, server_cores, servers, work)
            for scenario in ("c", "d"):
                _load(scenario, "taped", proxy, client_cores, f"{backend}-record")
        with Cleanup() as servers:
            port = free_port()
            replay = [sys.executable, str(REPLAY_SCRIPT), "replay", "--port", str(port), "--tape", str(tape)]
            _server(replay, "replay", port, server_cores, servers, work)
            for scenario in ("c", "d"):
                out["replay"][scenario] = _load(scenario, "taped", port, client_cores, f"{backend}-replay")
        out["decode"] = {"d": _decode_costs(tape)}
    return out


def _decode_costs(tape: Path) -> dict[str, Any]:
    """Where the client's time goes for (d)'s recorded search answers: JSON, protobuf, entities.

    The same three steps as mlflow's RestStore.search_runs after the bytes arrive, on this
    process's CPU clock."""
    import pickle

    from mlflow.entities import Run
    from mlflow.protos.service_pb2 import SearchRuns
    from mlflow.utils.proto_json_utils import parse_dict

    # (d)'s searches are the ones with a filter; (c)'s check lists every run without one.
    recorded = pickle.loads(tape.read_bytes()).items()
    bodies = [body for key, (_, _, body) in recorded if key[3] and json.loads(key[3]).get("filter")]
    steps = {"json.loads": 0.0, "parse_dict": 0.0, "Run.from_proto": 0.0}
    for body in bodies:
        t0 = time.process_time()
        data = json.loads(body)
        t1 = time.process_time()
        message = SearchRuns.Response()
        parse_dict(data, message)  # type: ignore[no-untyped-call]
        t2 = time.process_time()
        [Run.from_proto(r) for r in message.runs]
        t3 = time.process_time()
        steps["json.loads"] += t1 - t0
        steps["parse_dict"] += t2 - t1
        steps["Run.from_proto"] += t3 - t2
    n = max(len(bodies), 1)
    return {"ops": n, "bytes": sum(map(len, bodies)) / n, **{k: v / n * 1000 for k, v in steps.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"load before: {load_average()}")
    for backend in backends:
        rounds = [one_round(backend, i) for i in range(args.rounds)]
        for scenario, unit in (("c", "ms/run"), ("d", "ms/search")):
            cells = []
            for who in ("cnai", "replay"):
                wall = statistics.median(_per_op_ms(r[who][scenario], "seconds") for r in rounds)
                cpu = statistics.median(_per_op_ms(r[who][scenario], "client_cpu_s") for r in rounds)
                cells.append(f"{who} {wall:6.2f} (client CPU {cpu:5.2f})")
            print(f"{backend:<8} ({scenario}) {unit:<9} " + "   ".join(cells) + f"   [median of {args.rounds}]")
        decode = {k: statistics.median(r["decode"]["d"][k] for r in rounds) for k in rounds[0]["decode"]["d"]}
        print(
            f"{backend:<8} (d) client decoding per search answer ({decode['bytes']:,.0f} bytes): "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in decode.items() if k not in ("ops", "bytes"))
        )
    print(f"load after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
