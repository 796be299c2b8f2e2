"""One tracking scenario, driven by the stock mlflow client against MLFLOW_TRACKING_URI.

Run as a fresh process per (server, scenario) by bench/tracking.py, so connection pools and
client caches never carry over from one server to the next. Prints one JSON object on the last
line of stdout: {"scenario", "ops", "seconds", "p50_ms", "p99_ms", "check"} (scenario e prints
two, one per direction). Every scenario verifies what the server stored, outside the timed part,
so a fast wrong answer cannot pass.

    python bench/_tracking_load.py SCENARIO --experiment NAME [--n N] [--mb MB]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

PARAMS_PER_RUN = 10
METRICS_PER_RUN = 10
BATCH = 1000
B_KEYS = 10


def _value(run_index: int, key_index: int) -> float:
    """Deterministic metric value in [0, 1): scenario (d) recomputes what (c) logged."""
    return ((run_index * 7919 + key_index * 104729) % 1000) / 1000


def _param(run_index: int, key_index: int) -> str:
    return f"v{(run_index + key_index) % 4}"


def _thresholds(n: int) -> list[float]:
    return [round(k / n, 4) for k in range(n)]


def _filter(threshold: float) -> str:
    return f"metrics.m0 > {threshold} and params.p1 = 'v1'"


def _summary(scenario: str, timing: tuple[list[float], float, float], check: str) -> dict[str, Any]:
    latencies, total, cpu = timing
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    return {
        "scenario": scenario,
        "ops": len(latencies),
        "seconds": total,
        # The client's own CPU time in the timed part: a floor that no server can take away.
        "client_cpu_s": cpu,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0,
        "p99_ms": p99 * 1000,
        "check": check,
    }


def _timed(calls: Sequence[Callable[[], object]]) -> tuple[list[float], float, float]:
    """Per-call latencies, total wall time and the client's CPU time over all calls."""
    latencies = []
    cpu = time.process_time()
    start = time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    return latencies, time.perf_counter() - start, time.process_time() - cpu


def _experiment(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


def scenario_a(client: MlflowClient, experiment: str, n: int) -> list[dict[str, Any]]:
    run_id = client.create_run(_experiment(client, experiment)).info.run_id
    client.log_metric(run_id, "warmup", 0.0)  # first request opens the connection; not timed
    calls = [partial(client.log_metric, run_id, "loss", float(i), step=i) for i in range(n)]
    timing = _timed(calls)
    history = client.get_metric_history(run_id, "loss")
    if len(history) != n:
        raise SystemExit(f"(a) stored {len(history)} points of 'loss', expected {n}")
    return [_summary("a", timing, f"{n} points stored")]


def scenario_b(client: MlflowClient, experiment: str, n: int) -> list[dict[str, Any]]:
    run_id = client.create_run(_experiment(client, experiment)).info.run_id
    client.log_metric(run_id, "warmup", 0.0)
    now = int(time.time() * 1000)
    batches = [
        [
            Metric(key=f"b{i % B_KEYS}", value=float(i), timestamp=now + i, step=i // B_KEYS)
            for i in range(start, min(start + BATCH, n))
        ]
        for start in range(0, n, BATCH)
    ]
    calls = [partial(client.log_batch, run_id, metrics=batch) for batch in batches]
    timing = _timed(calls)
    expected = len([i for i in range(n) if i % B_KEYS == 0])
    history = client.get_metric_history(run_id, "b0")
    if len(history) != expected:
        raise SystemExit(f"(b) stored {len(history)} points of 'b0', expected {expected}")
    return [_summary("b", timing, f"{n} points in {len(batches)} batches")]


def scenario_c(client: MlflowClient, experiment: str, n: int) -> list[dict[str, Any]]:
    experiment_id = _experiment(client, experiment)
    client.get_experiment(experiment_id)  # opens the connection; not timed, and adds no run

    def one_run(i: int) -> None:
        run_id = client.create_run(experiment_id).info.run_id
        now = int(time.time() * 1000)
        client.log_batch(run_id, params=[Param(f"p{j}", _param(i, j)) for j in range(PARAMS_PER_RUN)])
        client.log_batch(
            run_id,
            metrics=[Metric(f"m{j}", _value(i, j), now, 0) for j in range(METRICS_PER_RUN)],
        )
        client.set_terminated(run_id)

    timing = _timed([partial(one_run, i) for i in range(n)])
    found = client.search_runs([experiment_id], max_results=max(n, 1))
    if len(found) != n:
        raise SystemExit(f"(c) search found {len(found)} runs, expected {n}")
    return [_summary("c", timing, f"{n} runs created")]


def scenario_d(client: MlflowClient, experiment: str, n: int, runs: int) -> list[dict[str, Any]]:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise SystemExit(f"(d) needs the experiment {experiment!r} that (c) creates")
    experiment_id = found.experiment_id
    thresholds = _thresholds(n)
    expected = {t: sum(1 for i in range(runs) if _value(i, 0) > t and _param(i, 1) == "v1") for t in thresholds}
    got: dict[float, int] = {}

    def search(t: float) -> None:
        got[t] = len(client.search_runs([experiment_id], filter_string=_filter(t), max_results=1000))

    search(thresholds[0])  # warm-up, not timed
    timing = _timed([partial(search, t) for t in thresholds])
    wrong = {t: (got[t], expected[t]) for t in thresholds if got[t] != expected[t]}
    if wrong:
        raise SystemExit(f"(d) wrong result counts (got, expected) per threshold: {wrong}")
    return [_summary("d", timing, f"{sum(got.values())} matches, as expected")]


def scenario_e(client: MlflowClient, experiment: str, megabytes: int) -> list[dict[str, Any]]:
    import mlflow.artifacts

    run_id = client.create_run(_experiment(client, experiment)).info.run_id
    with tempfile.TemporaryDirectory(prefix="cnai-bench-") as tmp:
        src = Path(tmp) / "blob.bin"
        payload = os.urandom(megabytes * 1024 * 1024)
        src.write_bytes(payload)
        digest = hashlib.sha256(payload).hexdigest()
        del payload
        client.log_metric(run_id, "warmup", 0.0)

        up = _timed([lambda: client.log_artifact(run_id, str(src))])
        dst = Path(tmp) / "down"
        dst.mkdir()

        def download() -> None:
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="blob.bin", dst_path=str(dst))

        down = _timed([download])
        back = dst / "blob.bin"
        if hashlib.sha256(back.read_bytes()).hexdigest() != digest:
            raise SystemExit("(e) downloaded bytes differ from the uploaded ones")
    check = f"{megabytes} MB, sha256 equal"
    return [_summary("e_up", up, check), _summary("e_down", down, check)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["a", "b", "c", "d", "e"])
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--n", type=int, default=0, help="calls, points, runs or searches")
    parser.add_argument("--runs", type=int, default=0, help="(d) how many runs (c) created")
    parser.add_argument("--mb", type=int, default=50, help="(e) artifact size in MB")
    args = parser.parse_args()
    if not os.environ.get("MLFLOW_TRACKING_URI", "").startswith("http"):
        raise SystemExit("set MLFLOW_TRACKING_URI=http://HOST:PORT")
    client = MlflowClient()
    if args.scenario == "a":
        out = scenario_a(client, args.experiment, args.n)
    elif args.scenario == "b":
        out = scenario_b(client, args.experiment, args.n)
    elif args.scenario == "c":
        out = scenario_c(client, args.experiment, args.n)
    elif args.scenario == "d":
        out = scenario_d(client, args.experiment, args.n, args.runs)
    else:
        out = scenario_e(client, args.experiment, args.mb)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
