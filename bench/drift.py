"""cnai's drift engine against Evidently's DataDriftPreset: one run, same machine, same files.

For each size (default 100k and 1M rows x 25 columns: 20 numerical, 5 categorical) the data are
generated in code (``_drift_data.py``) and written once as Parquet; then each tool runs in a
fresh process (``_drift_run.py``) that reads both files and computes per-column drift. Reported:
the time to read and compute (imports excluded, listed apart), the process's peak RSS, and
whether the per-column verdicts agree. Holds ``/tmp/cnai-bench.lock`` so that no two
benchmarks share the machine. Writes ``bench/results/drift.md``.

    python bench/drift.py [--sizes 100000,1000000] [--cnai-repeat 3] [--evidently-repeat 1]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import QUIET_ENV, RESULTS_DIR, WORK_DIR, load_average, machine_summary, now_utc
from _drift_data import N_CATEGORICAL, N_NUMERIC, ensure_files

LOCK_PATH = "/tmp/cnai-bench.lock"
RUNNER = Path(__file__).resolve().parent / "_drift_run.py"
TARGET_SPEEDUP, TARGET_MEMORY = 10.0, 0.5


@dataclass
class Measured:
    tool: str
    rows: int
    seconds: list[float] = field(default_factory=list)  # read + drift, per repeat
    import_s: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    drifted: dict[str, bool] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    dataset_drift: bool = False
    error: str | None = None

    @property
    def time(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak(self) -> float:
        return max(self.peak_mb)


def _run_once(tool: str, ref: Path, cur: Path, out: Path) -> dict[str, Any]:
    import os

    env = {**os.environ, **QUIET_ENV}
    proc = subprocess.run(
        [sys.executable, str(RUNNER), tool, str(ref), str(cur), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def measure(tool: str, rows: int, repeat: int, work: Path) -> Measured:
    ref, cur = ensure_files(rows, work)
    m = Measured(tool, rows)
    for i in range(repeat):
        try:
            r = _run_once(tool, ref, cur, work / f"result_{tool}_{rows}_{i}.json")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            m.error = str(exc)
            print(m.error, file=sys.stderr)
            break
        m.seconds.append(r["seconds"])
        m.import_s.append(r["import_s"])
        m.peak_mb.append(r["peak_rss_mb"])
        m.drifted, m.method, m.dataset_drift = r["drifted"], r["method"], r["dataset_drift"]
        print(f"  {tool:9s} {rows:>9,} rows: {r['seconds']:8.2f} s  peak {r['peak_rss_mb']:7.0f} MiB", flush=True)
    return m


def _agree(a: Measured, b: Measured) -> str:
    if a.error or b.error:
        return "n/a"
    if a.drifted == b.drifted and a.method == b.method and a.dataset_drift == b.dataset_drift:
        return f"yes ({len(a.drifted)}/{len(a.drifted)} columns)"
    diff = sorted(c for c in a.drifted if a.drifted.get(c) != b.drifted.get(c) or a.method.get(c) != b.method.get(c))
    return f"NO: {', '.join(diff) or 'dataset verdict'}"


def markdown(pairs: list[tuple[Measured, Measured]], command: str, load_before: str, load_after: str) -> str:
    lines = [
        "# Drift: cnai vs Evidently",
        "",
        f"- Date: {now_utc()}",
        f"- Machine: {machine_summary()}; load average before {load_before}, after {load_after}",
        f"- Data: {N_NUMERIC} numerical + {N_CATEGORICAL} categorical columns, reference and current of equal size,"
        " 10 of 25 columns shifted; Parquet files read by each tool (cnai: pyarrow column by column;"
        " Evidently: `pandas.read_parquet`).",
        "- Evidently: `Report([DataDriftPreset()], include_tests=True).run(current, reference)`, evidently "
        f"{_evidently_version()}. cnai: `compare(open_table(ref), open_table(cur))`, default preset.",
        "- Time: reading both files plus computing drift, in a fresh process (median of the repeats);"
        " interpreter start and imports listed apart. Peak: the process's max RSS (`ru_maxrss`).",
        f"- Command: `{command}`",
        "",
        "| rows | tool | read + drift (s) | imports (s) | peak RSS (MiB) | drifted columns | dataset drift |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for c, e in pairs:
        for m in (c, e):
            if m.error:
                lines.append(f"| {m.rows:,} | {m.tool} | failed | | | | |")
                continue
            n = sum(m.drifted.values())
            lines.append(
                f"| {m.rows:,} | {m.tool} | {m.time:.2f} | {statistics.median(m.import_s):.2f} | {m.peak:.0f} "
                f"| {n}/{len(m.drifted)} | {'yes' if m.dataset_drift else 'no'} |"
            )
    lines += [
        "",
        f"| rows | speed-up (target >= {TARGET_SPEEDUP:.0f}x) | speed-up incl. imports | peak memory vs Evidently "
        f"(target <= {TARGET_MEMORY:.0%}) | same per-column verdicts and tests |",
        "|---:|---:|---:|---:|---|",
    ]
    for c, e in pairs:
        if c.error or e.error:
            lines.append(f"| {c.rows:,} | n/a | n/a | n/a | n/a |")
            continue
        speed = e.time / c.time
        whole = (e.time + statistics.median(e.import_s)) / (c.time + statistics.median(c.import_s))
        mem = c.peak / e.peak
        ok_s = "met" if speed >= TARGET_SPEEDUP else "missed"
        ok_m = "met" if mem <= TARGET_MEMORY else "missed"
        lines.append(f"| {c.rows:,} | {speed:.1f}x ({ok_s}) | {whole:.1f}x | {mem:.0%} ({ok_m}) | {_agree(c, e)} |")
    return "\n".join(lines) + "\n"


def _evidently_version() -> str:
    from importlib.metadata import version

    return version("evidently")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--cnai-repeat", type=int, default=3)
    ap.add_argument("--evidently-repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "drift.md")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = WORK_DIR / "drift"
    command = "python bench/drift.py " + " ".join(argv if argv is not None else sys.argv[1:])
    with open(LOCK_PATH, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK_PATH} (another benchmark is running)...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        load_before = load_average()
        pairs = []
        for rows in sizes:
            started = time.perf_counter()
            ensure_files(rows, work)
            print(f"{rows:,} rows (data ready in {time.perf_counter() - started:.1f} s)", flush=True)
            cnai = measure("cnai", rows, args.cnai_repeat, work)
            evidently = measure("evidently", rows, args.evidently_repeat, work)
            pairs.append((cnai, evidently))
        load_after = load_average()
    text = markdown(pairs, command.strip(), load_before, load_after)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    agree = all(not c.error and not e.error and _agree(c, e).startswith("yes") for c, e in pairs)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
