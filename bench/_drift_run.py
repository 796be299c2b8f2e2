"""One measured drift run in its own process: `python _drift_run.py {cnai|evidently} REF CUR OUT.json`.

Each tool runs in a fresh interpreter so its peak memory is its own: the child reports
``ru_maxrss`` of itself (RUSAGE_SELF) at the end, which includes its imports and reading the
files. Timing covers reading both Parquet files and computing the drift, the work a user asks
for; the interpreter start and imports are timed separately by the parent.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from typing import Any


def run_cnai(ref: str, cur: str) -> dict[str, Any]:
    from cnai.monitoring.drift import DriftOptions, compare
    from cnai.monitoring.io import open_table

    imported = time.perf_counter()
    report = compare(open_table(ref), open_table(cur), DriftOptions(distributions=False))
    return {
        "start": imported,
        "drifted": {c.column: c.drifted for c in report.columns},
        "method": {c.column: c.test_display_name for c in report.columns},
        "share": report.share_drifted,
        "dataset_drift": report.dataset_drift,
    }


def run_evidently(ref: str, cur: str) -> dict[str, Any]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    reference = pd.read_parquet(ref)
    current = pd.read_parquet(cur)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = Report([DataDriftPreset()], include_tests=True).run(current, reference).dict()
    method: dict[str, str] = {}
    share = float("nan")
    for m in data["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("ValueDrift"):
            method[cfg["column"]] = cfg["method"]
        elif cfg["type"].endswith("DriftedColumnsCount"):
            share = float(m["value"]["share"])
    drifted = {
        t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
        for t in data["tests"]
        if t["metric_config"]["params"]["type"].endswith("ValueDrift")
    }
    return {"start": imported, "drifted": drifted, "method": method, "share": share, "dataset_drift": share >= 0.5}


def main() -> None:
    tool, ref, cur, out = sys.argv[1:5]
    t0 = time.perf_counter()
    result = run_cnai(ref, cur) if tool == "cnai" else run_evidently(ref, cur)
    done = time.perf_counter()
    result["import_s"] = result.pop("start") - t0
    result["seconds"] = done - t0 - result["import_s"]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    with open(out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
