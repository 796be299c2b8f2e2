"""One measured drift run in its own process: `python _drift_run.py {cnai|evidently} REF CUR OUT.json`.

Each tool does what its user runs to get a drift result they can read, and nothing else:

- cnai: the `cnai drift --reference REF --current CUR --json` command, called in-process through
  the CLI's own entry point (so its defaults are exactly a user's: Evidently's preset per column,
  no plot data unless `--html` is given), its JSON written to ``OUT.output.json``.
- Evidently: ``Report([DataDriftPreset()], include_tests=True).run(current, reference)`` on the
  files read with ``pandas.read_parquet``, then ``snapshot.save_json(OUT.output.json)``, the
  documented way to get its result out of the snapshot.

Timed: reading both files, computing drift and writing the JSON result. The interpreter start and
imports are timed apart. Both JSON files are read back afterwards, untimed, to compare verdicts.
The child reports its own ``ru_maxrss`` (RUSAGE_SELF) at the end, which includes its imports.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any


def run_cnai(ref: str, cur: str, output: Path) -> tuple[float, float, dict[str, Any]]:
    """(import seconds, run seconds, verdicts) for `cnai drift --json`."""
    t0 = time.perf_counter()
    # The command imports these inside its body; importing them first keeps imports out of the
    # timed part, as for Evidently.
    import cnai.monitoring.drift
    import cnai.monitoring.io
    import cnai.monitoring.quality
    import cnai.monitoring.report  # noqa: F401
    from cnai.cli.main import app

    t1 = time.perf_counter()
    with output.open("w") as out, contextlib.redirect_stdout(out):
        try:
            app(["drift", "--reference", ref, "--current", cur, "--json"], prog_name="cnai")
        except SystemExit as exc:  # the command's exit status: 0 no dataset drift, 1 drift, 2 bad input
            if exc.code not in (0, 1):
                raise RuntimeError(f"cnai drift exited with {exc.code}") from exc
    t2 = time.perf_counter()
    data = json.loads(output.read_text())
    verdicts = {
        "drifted": {c["column"]: c["drifted"] for c in data["columns"]},
        "method": {c["column"]: c["test_display_name"] for c in data["columns"]},
        "share": data["share_drifted"],
        "dataset_drift": data["dataset_drift"],
    }
    return t1 - t0, t2 - t1, verdicts


def run_evidently(ref: str, cur: str, output: Path) -> tuple[float, float, dict[str, Any]]:
    """(import seconds, run seconds, verdicts) for Evidently's DataDriftPreset saved as JSON."""
    t0 = time.perf_counter()
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t1 = time.perf_counter()
    reference = pd.read_parquet(ref)
    current = pd.read_parquet(cur)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
        snapshot.save_json(str(output))
    t2 = time.perf_counter()
    data = json.loads(output.read_text())
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
    verdicts = {"drifted": drifted, "method": method, "share": share, "dataset_drift": share >= 0.5}
    return t1 - t0, t2 - t1, verdicts


def main() -> None:
    tool, ref, cur, out = sys.argv[1:5]
    output = Path(out).with_suffix(".output.json")
    runner = run_cnai if tool == "cnai" else run_evidently
    import_s, seconds, result = runner(ref, cur, output)
    result["import_s"] = import_s
    result["seconds"] = seconds
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    with open(out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
