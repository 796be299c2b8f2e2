"""Tuning: `cnai tune` against Optuna (2 processes on a journal file) and Ray Tune, in one run.

Workload: 40 fixed GradientBoosting configurations (a grid, so every contender runs the same 40),
3-fold CV on scikit-learn's breast_cancer, 2 workers. Contenders, each in a fresh process:
- cnai: `cnai.tune.run` with the local executor, grid sampler, every trial a tracked child run in
  the embedded store;
- optuna: 2 processes running `study.optimize` on one JournalFileBackend (Optuna's documented
  multi-process setup), GridSampler;
- ray-default: Ray Tune's `Tuner` with `tune.grid_search`, `max_concurrent_trials=2`, its defaults
  (no actor reuse for function trainables), on a local Ray with 2 CPUs (`ray.init` not timed);
- ray-reuse: the same with `reuse_actors=True`.
Plus cnai alone: 1,000 trials of a 10 ms objective on 2 workers, all tracked.

Overhead per trial = (wall - Σ trial time / workers) / trials x workers, where Σ trial time is what
the objective measured around its own work. Medians over --repeat runs, contenders alternating.

    python bench/tune.py [--repeat 3] [--only cnai,optuna,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR, WORK_DIR, BenchError, bench_lock, load_average, machine_summary, now_utc

BENCH = Path(__file__).resolve().parent
CONTENDERS = ("cnai", "optuna", "ray-default", "ray-reuse")
WORKERS = 2
DEFAULT_REPEAT = 3


def run_one(contender: str, work: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent / "src"), "RAY_USAGE_STATS_ENABLED": "0"}
    env = {k: v for k, v in env.items() if not k.startswith(("CNAI_", "MLFLOW_TRACKING"))}
    done = subprocess.run(
        [sys.executable, str(BENCH / "_tune_run.py"), contender, str(work)],
        capture_output=True, text=True, env=env, timeout=3600,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"{contender} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["overhead_ms"] = (result["wall"] - result["trial_sum"] / WORKERS) / result["trials"] * WORKERS * 1000
    # The objective's own first-call imports of scikit-learn, per trial: inside the overhead above.
    result["imports_ms"] = result.get("import_sum", 0.0) / result["trials"] * 1000
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def markdown(results: dict[str, list[dict[str, Any]]], command: str, repeat: int, load: tuple[str, str]) -> str:
    lines = [
        "### Tuning: cnai tune against Optuna and Ray Tune",
        "",
        f"- Date: {now_utc()}",
        f"- Machine: {machine_summary()}; load average before {load[0]}, after {load[1]}",
        f"- Versions: cnai {version('cnai')}, optuna {version('optuna')}, ray {version('ray')}, "
        f"scikit-learn {version('scikit-learn')}",
        "- Workload: 40 fixed GradientBoosting configurations (n_estimators x learning_rate x max_depth grid), "
        "3-fold CV on breast_cancer, 2 workers; each contender in a fresh process; Ray's cluster start not timed.",
        "- Overhead per trial = (wall - Σ trial time / 2) / trials x 2; Σ trial time measured inside the objective.",
        "- Of which the objective's imports: the time its calls spent importing scikit-learn before their timed "
        "work (about 1 s on each fresh process's first call): not trial time, so the formula charges it, to every "
        "contender alike per fresh worker process (Ray Tune's default starts one per trial).",
        f"- Median of {repeat} run(s) per contender. Command: `{command}`",
        "",
        "| contender | wall (s) | Σ trial time (s) | overhead per trial (ms) | of which the objective's imports (ms) "
        "| trials | tracked runs | best CV accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        if name == "cnai-10ms":
            continue
        lines.append(
            f"| {name} | {median_of(runs, 'wall'):.1f} | {median_of(runs, 'trial_sum'):.1f} | "
            f"{median_of(runs, 'overhead_ms'):.0f} | {median_of(runs, 'imports_ms'):.0f} | {runs[0]['trials']} | "
            f"{runs[0]['tracked'] or '-'} | "
            f"{runs[0]['best']:.5f} |"
        )
    lines += ["", *targets(results)]
    return "\n".join(lines) + "\n"


def targets(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = ["| target | measured | |", "|---|---|---|"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    cnai = results.get("cnai")
    if cnai:
        overhead, imports = median_of(cnai, "overhead_ms"), median_of(cnai, "imports_ms")
        out.append(
            f"| cnai overhead ≤ 50 ms per trial, tracking included | {overhead:.0f} ms "
            f"({imports:.0f} ms of it the objective's own scikit-learn imports) | {verdict(overhead <= 50)} |"
        )
        if results.get("optuna"):
            ratio = median_of(cnai, "wall") / median_of(results["optuna"], "wall")
            out.append(f"| cnai wall ≤ 1.1x Optuna 2-process | {ratio:.2f}x | {verdict(ratio <= 1.1)} |")
        if results.get("ray-default"):
            speed = median_of(results["ray-default"], "wall") / median_of(cnai, "wall")
            out.append(f"| cnai ≥ 5x faster than Ray Tune default | {speed:.1f}x | {verdict(speed >= 5)} |")
        bests = {name: round(runs[0]["best"], 9) for name, runs in results.items() if name != "cnai-10ms"}
        same = len(set(bests.values())) == 1
        out.append(f"| the same best value | {', '.join(f'{k} {v:.5f}' for k, v in bests.items())} | {verdict(same)} |")
    fast = results.get("cnai-10ms")
    if fast:
        wall, tracked = median_of(fast, "wall"), fast[0]["tracked"]
        ok = wall <= 30 and tracked == 1000
        out.append(
            "| 1,000 trials of a 10 ms objective on 2 workers ≤ 30 s, all tracked "
            f"| {wall:.1f} s, {tracked} tracked | {verdict(ok)} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="runs per contender; the median is reported")
    ap.add_argument("--only", default=",".join((*CONTENDERS, "cnai-10ms")), help="comma-separated contenders")
    ap.add_argument("--out", type=Path, help="Markdown file to write")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    full = args.repeat == DEFAULT_REPEAT and set(names) == {*CONTENDERS, "cnai-10ms"}
    out: Path = args.out or (RESULTS_DIR if full else WORK_DIR) / "tune.md"
    command = ("python bench/tune.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    failures: dict[str, str] = {}
    with bench_lock():
        before = load_average()
        for i in range(args.repeat):
            for name in names:  # alternating, so drifting load touches every contender alike
                started = time.perf_counter()
                try:
                    result = run_one(name, WORK_DIR / "tune" / f"{name}-{i}-{os.getpid()}")
                except (BenchError, subprocess.TimeoutExpired) as exc:  # the table says so; the others still run
                    failures[name] = str(exc).strip().splitlines()[-1][:300]
                    print(f"{name} run {i + 1}: FAILED: {failures[name]}", flush=True)
                    continue
                results[name].append(result)
                print(f"{name} run {i + 1}: wall {result['wall']:.1f} s, overhead {result['overhead_ms']:.0f} ms/trial "
                      f"(imports {result['imports_ms']:.0f}), {time.perf_counter() - started:.0f} s with start-up",
                      flush=True)  # fmt: skip
        after = load_average()
    text = markdown({n: r for n, r in results.items() if r}, command, args.repeat, (before, after))
    if failures:
        text += "\n" + "\n".join(f"- {name} did not run: {why}" for name, why in failures.items()) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
