"""cnai's web UI against MLflow's UI, in Chromium: one run, same machine, same browser.

    python bench/ui.py                      # 10,000 runs x 20 metrics; 10 runs x 1,000 steps; 3 rounds
    python bench/ui.py --runs 2000 --repeat 1   # a smoke run

What is measured, each in a fresh navigation of headless Chromium (Debian's, driven by Selenium),
after one warm-up navigation per page so both UIs load their scripts from the browser cache as a
returning user's would:

  runs page   an experiment of --runs runs x --metrics metrics. cnai: /ui/experiments/{id} until
              its first page of rows is in the DOM and cnai.js has wired the page (body[data-ready]).
              MLflow: /#/experiments/{id}/runs until its runs table shows rows.
  comparison  --compared runs with --steps-step histories of one metric. cnai: /ui/compare?run=...
              until the chart is drawn (#compare-chart[data-drawn]). MLflow: its metric page
              (/#/metric?runs=...) until its chart has one trace per run.

The time is read in the page: ``performance.now()`` (milliseconds since navigation start) when
the condition first holds, checked every 10 ms by a script injected before the page's own.
Both servers run on SQLite files filled before the clock starts (cnai's through its schema,
MLflow's through its own store's engine); MLflow is the stock `mlflow server` in
bench/.venvs/mlflow-stock (bench/tracking.py's environment), cnai is `cnai server`. Medians
over --repeat rounds; targets: runs page <= 1 s and comparison <= 1 s for cnai.
Results: terminal and bench/results/ui.md (full sizes) or bench/.work/ui/ui.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from _common import (
    RESULTS_DIR,
    SERVER_ENV_PREFIXES,
    WORK_DIR,
    BenchError,
    Cleanup,
    bench_lock,
    ensure_venv,
    free_port,
    load_average,
    machine_summary,
    now_utc,
    sigterm_as_interrupt,
    start_process,
    wait_healthy,
)
from tracking import STOCK_CHECK, STOCK_REQUIREMENTS, STOCK_VENV, STOCK_VERSION

UI_WORK = WORK_DIR / "ui"
FILL_MLFLOW = Path(__file__).resolve().parent / "_ui_fill_mlflow.py"
TARGET_MS = 1000.0
PAGE_TIMEOUT_S = 120.0
TIMES = "\u00d7"  # the multiplication sign, spelled out so linters do not take it for an x

# Conditions evaluated in the page every 10 ms; the first time each holds is recorded.
CONDITIONS = {
    "cnai-runs": "document.body && document.body.dataset.ready === '1' && "
    "document.querySelectorAll('tr.run-row').length >= 100",
    "cnai-compare": "!!document.querySelector('#compare-chart[data-drawn]')",
    "mlflow-runs": "document.querySelectorAll('.ag-center-cols-container .ag-row').length >= 10"
    " || document.querySelectorAll('[role=row]').length >= 11",
    "mlflow-compare": "document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= COMPARED",
}
PROBE = """
window.__bench = {};
const conditions = %s;
const timer = setInterval(function () {
  for (const name in conditions) {
    try { if (!(name in window.__bench) && conditions[name]()) window.__bench[name] = performance.now(); }
    catch (e) {}
  }
}, 10);
"""


# --- filling -------------------------------------------------------------------------------------


def fill_cnai(home: Path, runs: int, metrics: int, steps: int, compared: int) -> dict[str, Any]:
    """cnai's database: schema and experiments through its stores, rows in bulk through its schema."""
    from cnai.db.schema import latest_metrics, params, run_tags
    from cnai.db.schema import metrics as metric_table
    from cnai.db.schema import runs as run_table
    from cnai.server.app import build_plane
    from cnai.settings import Settings

    plane = build_plane(Settings(home=home))
    big = plane.experiments.create("ui-bench-runs", None, [])
    cmp_exp = plane.experiments.create("ui-bench-compare", None, [])
    now = int(time.time() * 1000)
    rows: dict[str, list[dict[str, Any]]] = {"runs": [], "tags": [], "params": [], "metrics": [], "latest": []}
    compared_ids = []

    def add_run(exp: str, i: int, name: str) -> str:
        rid = uuid.uuid4().hex
        start = now - i * 1000
        rows["runs"].append(
            {
                "run_uuid": rid,
                "experiment_id": int(exp),
                "name": name,
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": start,
                "end_time": start + 500,
                "lifecycle_stage": "active",
                "artifact_uri": f"mlflow-artifacts:/{exp}/{rid}/artifacts",
            }
        )
        rows["tags"].append({"run_uuid": rid, "key": "mlflow.runName", "value": name})
        rows["params"] += [{"run_uuid": rid, "key": f"p{p}", "value": str((i * 7 + p) % 13)} for p in range(5)]
        return rid

    for i in range(runs):
        rid = add_run(big, i, f"bench-run-{i:05d}")
        for m in range(metrics):
            value = ((i * 31 + m * 17) % 1000) / 1000
            point = {"run_uuid": rid, "key": f"m{m:02d}", "value": value, "timestamp": now, "step": 0, "is_nan": False}
            rows["metrics"].append(point)
            rows["latest"].append(point)
    for i in range(compared):
        rid = add_run(cmp_exp, i, f"cmp-run-{i}")
        compared_ids.append(rid)
        for s in range(steps):
            value = 2.0 / (1 + s * (i + 1) * 0.01)
            point = {
                "run_uuid": rid,
                "key": "loss",
                "value": value,
                "timestamp": now + s * 10,
                "step": s,
                "is_nan": False,
            }
            rows["metrics"].append(point)
        rows["latest"].append(point)
    with plane.engine.begin() as conn:
        for table, key in (
            (run_table, "runs"),
            (run_tags, "tags"),
            (params, "params"),
            (metric_table, "metrics"),
            (latest_metrics, "latest"),
        ):
            conn.execute(table.insert(), rows[key])
    plane.audit.close()
    plane.engine.dispose()
    return {"experiment": big, "compare_experiment": cmp_exp, "compared": compared_ids}


def fill_mlflow(db: Path, artifacts: Path, runs: int, metrics: int, steps: int, compared: int) -> dict[str, Any]:
    argv = [str(STOCK_VENV / "bin" / "python"), str(FILL_MLFLOW), f"sqlite:///{db}", str(artifacts)]
    argv += [str(runs), str(metrics), str(steps), str(compared)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"filling MLflow's database failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the browser ---------------------------------------------------------------------------------


def start_browser(compared: int) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    install = Path(__file__).resolve().parents[1] / "scripts" / "install-browser.sh"
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        subprocess.run(["sh", str(install)], check=True)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    conditions = ",".join(
        f"{json.dumps(name)}: function () {{ return {expr.replace('COMPARED', str(compared))}; }}"
        for name, expr in CONDITIONS.items()
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE % ("{" + conditions + "}")})
    return driver


def measure(driver: Any, url: str, condition: str, shot: Path | None = None) -> float:
    """Milliseconds from navigation start until ``condition`` first held in the page."""
    driver.get("about:blank")
    driver.get(url)
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while time.monotonic() < deadline:
        at = driver.execute_script(f"return window.__bench && window.__bench[{json.dumps(condition)}];")
        if at is not None:
            if shot is not None:
                driver.save_screenshot(str(shot))
            return float(at)
        time.sleep(0.05)
    if shot is not None:
        driver.save_screenshot(str(shot))
    raise BenchError(f"{condition} never held at {url} within {PAGE_TIMEOUT_S:.0f}s")


def pages(kind: str, base: str, ids: dict[str, Any]) -> dict[str, str]:
    runs_json = urllib.parse.quote(json.dumps(ids["compared"]))
    if kind == "cnai":
        return {
            "runs": f"{base}/ui/experiments/{ids['experiment']}",
            "compare": f"{base}/ui/compare?" + "&".join(f"run={r}" for r in ids["compared"]),
        }
    exps = urllib.parse.quote(json.dumps([str(ids["compare_experiment"])]))
    keys = urllib.parse.quote(json.dumps(["loss"]))
    return {
        "runs": f"{base}/#/experiments/{ids['experiment']}/runs",
        "compare": f"{base}/#/metric?runs={runs_json}&metric=%22loss%22&experiments={exps}&plot_metric_keys={keys}"
        "&x_axis=step&y_axis_scale=linear&line_smoothness=1&show_point=false",
    }


# --- main --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--compared", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--servers", default="cnai,mlflow", help="comma-separated: cnai, mlflow")
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="do not wait for /tmp/cnai-bench.lock (a niced smoke run beside another benchmark; noisy numbers)",
    )
    args = parser.parse_args()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    full = (args.runs, args.metrics, args.steps, args.compared, args.repeat) == (10_000, 20, 1000, 10, 3)
    full = full and not args.no_lock
    lock = contextlib.nullcontext() if args.no_lock else bench_lock()
    with lock, sigterm_as_interrupt(), Cleanup() as cleanup:
        if UI_WORK.exists():
            shutil.rmtree(UI_WORK)
        UI_WORK.mkdir(parents=True)
        if "mlflow" in servers:
            print(f"preparing {STOCK_VENV} (mlflow {STOCK_VERSION}) ...", flush=True)
            ensure_venv(
                STOCK_VENV, STOCK_REQUIREMENTS, STOCK_CHECK, python=sys.executable, log_path=UI_WORK / "venv.log"
            )
        urls: dict[str, dict[str, str]] = {}
        for kind in servers:
            t0 = time.monotonic()
            port = free_port()
            if kind == "cnai":
                home = UI_WORK / "cnai"
                ids = fill_cnai(home, args.runs, args.metrics, args.steps, args.compared)
                cnai = Path(sys.executable).parent / "cnai"
                argv = [str(cnai) if cnai.exists() else "cnai", "server", "--host", "127.0.0.1", "--port", str(port)]
                env = {"CNAI_HOME": str(home)}
            else:
                db, artifacts = UI_WORK / "mlflow.db", UI_WORK / "mlflow-artifacts"
                ids = fill_mlflow(db, artifacts, args.runs, args.metrics, args.steps, args.compared)
                argv = [str(STOCK_VENV / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
                argv += ["--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", str(artifacts)]
                env = {}
            print(f"{kind}: filled in {time.monotonic() - t0:.0f}s", flush=True)
            proc = start_process(kind, argv, log_path=UI_WORK / f"{kind}.log", env=env, drop_env=SERVER_ENV_PREFIXES)
            cleanup.push(f"stop {kind}", proc.stop)
            base = f"http://127.0.0.1:{port}"
            wait_healthy(proc, f"{base}/health")
            urls[kind] = pages(kind, base, ids)
        driver = start_browser(args.compared)
        cleanup.push("stop chromium", driver.quit)
        results: dict[str, dict[str, list[float]]] = {k: {"runs": [], "compare": []} for k in servers}
        errors: dict[str, str] = {}
        for kind in servers:  # warm-up: scripts into the browser cache
            for page, url in urls[kind].items():
                try:
                    measure(driver, url, f"{kind}-{page}", UI_WORK / f"{kind}-{page}.png")
                except BenchError as exc:
                    errors[f"{kind}-{page}"] = str(exc)
        for _ in range(args.repeat):
            for kind in servers:
                for page, url in urls[kind].items():
                    if f"{kind}-{page}" not in errors:
                        results[kind][page].append(measure(driver, url, f"{kind}-{page}"))
        report = render(args, results, errors, full)
    print(report)
    out = RESULTS_DIR / "ui.md" if full else UI_WORK / "ui.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"written to {out}; screenshots in {UI_WORK}")
    return 0


def render(
    args: argparse.Namespace, results: dict[str, dict[str, list[float]]], errors: dict[str, str], full: bool
) -> str:
    def cell(kind: str, page: str) -> str:
        if f"{kind}-{page}" in errors:
            return "not measured"
        values = results.get(kind, {}).get(page) or []
        return f"{statistics.median(values):.0f} ms" if values else "-"

    def verdict(page: str) -> str:
        values = results.get("cnai", {}).get(page) or []
        if not values:
            return "-"
        return "met" if statistics.median(values) <= TARGET_MS else "NOT met"

    lines = [
        f"Run {now_utc()} on {machine_summary()}; load average at the end {load_average()}.",
        f"Command: `python bench/ui.py --runs {args.runs} --metrics {args.metrics} --steps {args.steps} "
        f"--compared {args.compared} --repeat {args.repeat}`; headless Chromium, medians of {args.repeat} rounds,"
        " warm browser cache.",
        "",
        "| page | cnai | MLflow UI (stock 3.17.2) | cnai target ≤ 1 s |",
        "| --- | --- | --- | --- |",
        f"| runs page, {args.runs:,} runs {TIMES} {args.metrics} metrics, interactive | {cell('cnai', 'runs')} | "
        f"{cell('mlflow', 'runs')} | {verdict('runs')} |",
        f"| comparison of {args.compared} runs {TIMES} {args.steps:,} steps, drawn | {cell('cnai', 'compare')} | "
        f"{cell('mlflow', 'compare')} | {verdict('compare')} |",
    ]
    for name, message in errors.items():
        lines.append(f"\n{name}: {message.splitlines()[0]}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
