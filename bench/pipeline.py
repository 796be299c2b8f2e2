"""cnai pipelines' local executor against Kubeflow Pipelines' local runner (kfp 2.17).

Two chains of trivial steps (``x + 1``), 3 and 20 steps long, are generated in code for both
tools. Each measurement is one fresh process (``_pipeline_run.py``) that times the run itself,
imports apart: cnai through ``cnai.pipelines.service`` with its warm local executor and an embedded
store in a fresh ``CNAI_HOME``; kfp through ``kfp.local.init(runner=SubprocessRunner(use_venv=False))``
(kfp's documented local mode; Docker is not available here). cnai's store schema is created before
the timed run (a user's ``CNAI_HOME`` has one after its first use); its cache starts empty. kfp
runs in a venv under ``bench/.venvs/kfp``, installed on first use. The two tools alternate,
``--repeat`` times each (default 3), and medians are reported, with per-step overhead = run time /
steps.

Then, on the 20-step chain: a rerun of the unchanged pipeline (cnai: steps executed and wall time
of the run; also of the whole ``cnai pipeline run`` command), and a change to step 10's code:
``plan`` must predict exactly steps 10..19 to run, and the run must execute exactly those.

Holds ``/tmp/cnai-bench.lock``. Full runs write ``bench/results/pipeline.md``; ``--quick`` (one
repeat) writes ``bench/.work/pipeline.md``.

    python bench/pipeline.py [--repeat 3]
    python bench/pipeline.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    QUIET_ENV,
    RESULTS_DIR,
    SERVER_ENV_PREFIXES,
    VENVS_DIR,
    WORK_DIR,
    bench_lock,
    ensure_venv,
    load_average,
    machine_summary,
    now_utc,
)

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "_pipeline_run.py"
KFP_VENV = VENVS_DIR / "kfp"
KFP_REQUIREMENT = "kfp==2.17.0"
SIZES = (3, 20)
TARGET_STEP_S, TARGET_SPEEDUP, TARGET_RERUN_S = 0.100, 10.0, 0.300
CHANGED_STEP = 10


def cnai_source(n: int, bump: int | None = None) -> str:
    lines = ["from cnai.pipelines import pipeline, step", ""]
    for i in range(n):
        add = 2 if i == bump else 1
        lines += ["@step", f"def step_{i}(x: int) -> int:", f"    return x + {add}", ""]
    body = ["@pipeline", "def chain(x: int = 0):", "    t = step_0(x=x)"]
    body += [f"    t = step_{i}(x=t)" for i in range(1, n)]
    return "\n".join([*lines, *body, "    return t", ""])


def kfp_source(n: int) -> str:
    lines = ["from kfp import dsl", ""]
    for i in range(n):
        lines += ["@dsl.component", f"def step_{i}(x: int) -> int:", "    return x + 1", ""]
    body = ["@dsl.pipeline", "def chain(x: int = 0) -> int:", "    t = step_0(x=x)"]
    body += [f"    t = step_{i}(x=t.output)" for i in range(1, n)]
    return "\n".join([*lines, *body, "    return t.output", ""])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVER_ENV_PREFIXES)}
    env.update(QUIET_ENV)
    env["PYTHONPATH"] = str(ROOT / "src")  # this checkout's cnai
    return env


def _measure(python: str, tool: str, file: Path, where: Path) -> dict[str, Any]:
    done = subprocess.run(
        [python, str(RUNNER), tool, str(file), str(where)], capture_output=True, text=True, env=_env(), timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tool} run of {file.name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cli_rerun(file: Path, home: Path) -> float:
    env = {**_env(), "CNAI_HOME": str(home)}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cnai.cli.main", "pipeline", "run", str(file), "--json"],
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - t0


def run(repeat: int, work: Path) -> dict[str, Any]:
    kfp_python = str(KFP_VENV / "bin" / "python")
    out: dict[str, Any] = {"per_size": {}}
    for n in SIZES:
        cnai_file, kfp_file = work / f"cnai_chain_{n}.py", work / f"kfp_chain_{n}.py"
        cnai_file.write_text(cnai_source(n))
        kfp_file.write_text(kfp_source(n))
        times: dict[str, list[float]] = {"cnai": [], "kfp": []}
        for r in range(repeat):
            home = work / f"home-{n}-{r}"
            shutil.rmtree(home, ignore_errors=True)
            got = _measure(sys.executable, "cnai", cnai_file, home)
            if got["output"] != n or got["executed"] != n:
                raise RuntimeError(f"cnai's {n}-step chain answered {got}")
            times["cnai"].append(got["run_s"])
            root = work / f"kfp-root-{n}-{r}"
            shutil.rmtree(root, ignore_errors=True)
            got = _measure(kfp_python, "kfp", kfp_file, root)
            if got["output"] != n:
                raise RuntimeError(f"kfp's {n}-step chain answered {got}")
            times["kfp"].append(got["run_s"])
        out["per_size"][n] = {tool: statistics.median(v) for tool, v in times.items()} | {"raw": times}
    # Rerun and change, on the 20-step chain, in the last repeat's home (its cache is warm).
    n = SIZES[-1]
    home, file = work / f"home-{n}-{repeat - 1}", work / f"cnai_chain_{n}.py"
    reruns = [_measure(sys.executable, "cnai", file, home) for _ in range(repeat)]
    out["rerun_s"] = statistics.median(r["run_s"] for r in reruns)
    out["rerun_plan_s"] = statistics.median(r["plan_s"] for r in reruns)
    out["rerun_executed"] = max(r["executed"] for r in reruns)
    out["rerun_cli_s"] = statistics.median(_cli_rerun(file, home) for _ in range(repeat))
    file.write_text(cnai_source(n, bump=CHANGED_STEP))
    changed = _measure(sys.executable, "cnai", file, home)
    expected = sorted(f"step-{i}" for i in range(CHANGED_STEP, n))
    out["change"] = {
        "expected": expected,
        "predicted_ok": changed["predicted_run"] == expected,
        "ran_ok": changed["ran"] == expected and changed["executed"] == len(expected),
    }
    kfp_rerun = _measure(kfp_python, "kfp", work / f"kfp_chain_{n}.py", work / f"kfp-root-{n}-{repeat - 1}")
    out["kfp_rerun_s"] = kfp_rerun["run_s"]
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(res: dict[str, Any], repeat: int, load_before: str, load_after: str, command: str) -> str:
    lines = [
        "# Pipelines: cnai pipeline against Kubeflow Pipelines' local runner",
        "",
        f"- When: {now_utc()}; command: `{command}`",
        f"- Machine: {machine_summary()}; load average before {load_before}, after {load_after}",
        f"- kfp {KFP_REQUIREMENT.split('==')[1]} `SubprocessRunner(use_venv=False)`; "
        "cnai local executor (warm workers), "
        f"embedded store; {repeat} repeat(s), medians; run time only (imports apart)",
        "",
        "| steps | cnai run | cnai per step | kfp run | kfp per step | kfp / cnai |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, row in res["per_size"].items():
        c, k = row["cnai"], row["kfp"]
        lines.append(f"| {n} | {c:.3f} s | {c / n * 1000:.1f} ms | {k:.3f} s | {k / n * 1000:.0f} ms | {k / c:.1f}x |")
    big = res["per_size"][SIZES[-1]]
    small = res["per_size"][SIZES[0]]
    marginal = (big["cnai"] - small["cnai"]) / (SIZES[-1] - SIZES[0])
    kfp_marginal = (big["kfp"] - small["kfp"]) / (SIZES[-1] - SIZES[0])
    worst_step = max(r["cnai"] / n for n, r in res["per_size"].items())
    worst_speedup = min(r["kfp"] / r["cnai"] for r in res["per_size"].values())
    change = res["change"]
    both = change["predicted_ok"] and change["ran_ok"]
    lines += [
        "",
        f"Marginal cost of one more step ({SIZES[0]} -> {SIZES[-1]} steps): cnai {marginal * 1000:.1f} ms, "
        f"kfp {kfp_marginal * 1000:.0f} ms.",
        "",
        f"Rerun of the unchanged {SIZES[-1]}-step chain: {res['rerun_executed']} steps executed, run "
        f"{res['rerun_s'] * 1000:.0f} ms (plan {res['rerun_plan_s'] * 1000:.0f} ms); the whole "
        f"`cnai pipeline run --json` command including interpreter start-up and imports "
        f"{res['rerun_cli_s'] * 1000:.0f} ms. kfp's local runner re-executes every step: {res['kfp_rerun_s']:.2f} s.",
        "",
        f"Step {CHANGED_STEP}'s code changed: plan predicted exactly steps {CHANGED_STEP}..{SIZES[-1] - 1} to run: "
        f"{'yes' if change['predicted_ok'] else 'NO'}; "
        f"the run executed exactly those: {'yes' if change['ran_ok'] else 'NO'}.",
        "",
        "| target | result | |",
        "|---|---|---|",
        f"| per-step overhead <= 100 ms | worst {worst_step * 1000:.1f} ms | {_met(worst_step <= TARGET_STEP_S)} |",
        f"| >= 10x faster than kfp local | worst {worst_speedup:.1f}x | {_met(worst_speedup >= TARGET_SPEEDUP)} |",
        f"| unchanged rerun: 0 steps, <= 300 ms | {res['rerun_executed']} steps, {res['rerun_s'] * 1000:.0f} ms "
        f"| {_met(res['rerun_executed'] == 0 and res['rerun_s'] <= TARGET_RERUN_S)} |",
        f"| change reruns exactly the step and descendants, as planned | {'yes' if both else 'no'} | {_met(both)} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat; writes bench/.work/pipeline.md")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    work = WORK_DIR / "pipeline"
    work.mkdir(parents=True, exist_ok=True)
    ensure_venv(KFP_VENV, [KFP_REQUIREMENT], "import kfp.local", python=sys.executable, log_path=work / "kfp-venv.log")
    out: Path = args.out or (WORK_DIR if args.quick else RESULTS_DIR) / "pipeline.md"
    command = "python bench/pipeline.py" + (" --quick" if args.quick else f" --repeat {repeat}")
    with bench_lock():
        load_before = load_average()
        res = run(repeat, work)
        load_after = load_average()
    text = markdown(res, repeat, load_before, load_after, command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
