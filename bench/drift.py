"""cnai's drift engine against Evidently's DataDriftPreset: same machine, same files, same work.

For each size (default 100k and 1M rows x 25 columns: 20 numerical, 5 categorical) the data are
generated in code (``_drift_data.py``) and written once as Parquet. Then each tool runs
``--repeat`` times (default 3), each run in a fresh process (``_drift_run.py``), the two tools
alternating so that a slow spell on the machine is shared out. Each run reads both files,
computes per-column drift and writes the JSON result its user reads: cnai through
``cnai drift --json`` with its defaults, Evidently through ``Report([DataDriftPreset()],
include_tests=True).run(...)`` and ``save_json``. Reported per tool: the median time of that work
(imports listed apart), the highest peak RSS over the runs, and whether the per-column verdicts
agree. Holds ``/tmp/cnai-bench.lock`` so that no two benchmarks share the machine. Full runs
write ``bench/results/drift.md``; ``--quick`` and partial runs write ``bench/.work/drift.md``.

    python bench/drift.py [--sizes 100000,1000000] [--repeat 3]
    python bench/drift.py --quick        # 10,000 rows, 1 run each: a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    QUIET_ENV,
    RESULTS_DIR,
    SERVER_ENV_PREFIXES,
    WORK_DIR,
    bench_lock,
    load_average,
    machine_summary,
    now_utc,
)
from _drift_data import N_CATEGORICAL, N_NUMERIC, ensure_files

RUNNER = Path(__file__).resolve().parent / "_drift_run.py"
TARGET_SPEEDUP, TARGET_MEMORY = 10.0, 0.5
DEFAULT_SIZES = "100000,1000000"
DEFAULT_REPEAT = 3


@dataclass
class Measured:
    tool: str
    rows: int
    seconds: list[float] = field(default_factory=list)  # read + drift + JSON result, per run
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

    # The shell's CNAI_*/MLFLOW_* settings are left out: each tool runs with its defaults.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(SERVER_ENV_PREFIXES)}
    env = {**inherited, **QUIET_ENV}
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


def measure_once(m: Measured, ref: Path, cur: Path, work: Path) -> None:
    """One fresh-process run of `m.tool`, added to `m`; after a failure the tool is not run again."""
    if m.error:
        return
    i = len(m.seconds)
    try:
        r = _run_once(m.tool, ref, cur, work / f"result_{m.tool}_{m.rows}_{i}.json")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        m.error = str(exc)
        print(m.error, file=sys.stderr)
        return
    m.seconds.append(r["seconds"])
    m.import_s.append(r["import_s"])
    m.peak_mb.append(r["peak_rss_mb"])
    m.drifted, m.method, m.dataset_drift = r["drifted"], r["method"], r["dataset_drift"]
    print(
        f"  run {i + 1}: {m.tool:9s} {m.rows:>9,} rows: {r['seconds']:8.2f} s  peak {r['peak_rss_mb']:7.0f} MiB",
        flush=True,
    )


def measure_pair(rows: int, repeat: int, work: Path) -> tuple[Measured, Measured]:
    """Both tools, `repeat` runs each, alternating (cnai, Evidently, cnai, ...)."""
    ref, cur = ensure_files(rows, work)
    cnai, evidently = Measured("cnai", rows), Measured("evidently", rows)
    for _ in range(repeat):
        for m in (cnai, evidently):
            measure_once(m, ref, cur, work)
    return cnai, evidently


def _agree(a: Measured, b: Measured) -> str:
    if a.error or b.error:
        return "n/a"
    if a.drifted == b.drifted and a.method == b.method and a.dataset_drift == b.dataset_drift:
        return f"yes ({len(a.drifted)}/{len(a.drifted)} columns)"
    diff = sorted(c for c in a.drifted if a.drifted.get(c) != b.drifted.get(c) or a.method.get(c) != b.method.get(c))
    return f"NO: {', '.join(diff) or 'dataset verdict'}"


def markdown(
    pairs: list[tuple[Measured, Measured]], command: str, repeat: int, load_before: str, load_after: str
) -> str:
    lines = [
        "# Drift: cnai vs Evidently",
        "",
        f"- Date: {now_utc()}",
        f"- Machine: {machine_summary()}; load average before {load_before}, after {load_after}",
        f"- Data: {N_NUMERIC} numerical + {N_CATEGORICAL} categorical columns, reference and current of equal size,"
        " 10 of 25 columns shifted; Parquet files read by each tool (cnai: pyarrow column by column;"
        " Evidently: `pandas.read_parquet`).",
        f"- cnai {_version('cnai')}: `cnai drift --reference REF --current CUR --json` with its defaults"
        " (Evidently's preset per column; plot data only with `--html`), called through the CLI entry point;"
        " the JSON goes to a file.",
        f"- Evidently {_version('evidently')}: `Report([DataDriftPreset()], include_tests=True).run(current,"
        " reference)` then `snapshot.save_json(path)` (its `run` also builds the report's plot widgets;"
        " it has no switch to skip them).",
        f"- Time: reading both files, computing drift and writing the JSON result; median of {repeat}"
        f" run{'s' if repeat != 1 else ''} per tool, each in a fresh process, the tools alternating;"
        " interpreter start and imports listed apart (median). Peak: the highest max RSS (`ru_maxrss`) of"
        " the runs.",
        f"- Command: `{command}`",
        "",
        f"| rows | tool | read + drift + JSON (s, median of {repeat}) | imports (s) | peak RSS (MiB)"
        " | drifted columns | dataset drift |",
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


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument(
        "--repeat", type=int, help=f"runs per tool and size; the median is reported [default: {DEFAULT_REPEAT}]"
    )
    ap.add_argument("--quick", action="store_true", help="10,000 rows, 1 run per tool: a smoke run")
    ap.add_argument("--out", type=Path, help="Markdown file to write")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes = "10000"
    if args.repeat is None:
        args.repeat = 1 if args.quick else DEFAULT_REPEAT
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    full = not args.quick and args.sizes == DEFAULT_SIZES and args.repeat == DEFAULT_REPEAT
    out: Path = args.out or (RESULTS_DIR if full else WORK_DIR) / "drift.md"
    work = WORK_DIR / "drift"
    command = "python bench/drift.py " + " ".join(argv if argv is not None else sys.argv[1:])
    with bench_lock():
        load_before = load_average()
        pairs = []
        for rows in sizes:
            started = time.perf_counter()
            ensure_files(rows, work)
            print(f"{rows:,} rows (data ready in {time.perf_counter() - started:.1f} s)", flush=True)
            pairs.append(measure_pair(rows, args.repeat, work))
        load_after = load_average()
    text = markdown(pairs, command.strip(), args.repeat, load_before, load_after)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
    agree = all(not c.error and not e.error and _agree(c, e).startswith("yes") for c, e in pairs)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
