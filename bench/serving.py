"""Serving benchmark: cnai serve against its peers, same model, same machine, same load.

Servers (each in its own process, pinned to the server core; the load generator, wrk, pinned to
the other): cnai serve with its defaults (batching on) and with batching off, through OIP v2
(`/v2/models/lr/infer`) and MLflow scoring (`/invocations`); `mlflow models serve --env-manager
local`; KServe's Python model server; BentoML; Ray Serve; MLServer; and a bare uvicorn + Starlette
endpoint calling `model.predict` (the practical limit). Every peer that batches in its own server
runs twice, without and with its batching: BentoML `@bentoml.api(batchable=True)` (its adaptive
batching), Ray Serve `@serve.batch`, MLServer `max_batch_size`/`max_batch_time`, each with cnai's
default limits (64 per batch, 2 ms wait) where it takes them. KServe's Python server has no
batching of its own (KServe batches in its agent sidecar, `spec.predictor.batcher`, on
Kubernetes only), so it runs unbatched. Peers run in their own virtual environments under
bench/.venvs/ (installed on first use); a peer that cannot be installed or started is reported in
the table, not fatal.

Scenarios: 1-row requests at concurrency 1 and 32, 100-row requests at concurrency 8, a
LogisticRegression on 4 features. JSON bodies everywhere (what each peer's clients send). Every
server runs `--repeat` rounds (default 3; servers in rotation, restarted each round) and each
cell is the median over the rounds.

    python bench/serving.py                 # full run, writes bench/results/serving.md
    python bench/serving.py --quick         # 2 s per scenario, 1 round, writes bench/.work/serving/serving.md
    python bench/serving.py --servers cnai,bare --duration 5
    python bench/serving.py --servers cnai,cnai-nobatch,bare --scenarios c=32 --repeat 5

Runs hold /tmp/cnai-bench.lock so two benchmarks never share the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS_DIR,
    SERVER_ENV_PREFIXES,
    VENVS_DIR,
    WORK_DIR,
    BenchError,
    Cleanup,
    Process,
    bench_lock,
    core_plan,
    ensure_venv,
    free_port,
    load_average,
    machine_summary,
    now_utc,
    sigterm_as_interrupt,
    start_process,
    venv_output,
    wait_healthy,
)

WORK = WORK_DIR / "serving"
PEERS_DIR = Path(__file__).resolve().parent / "_serving_peers"
BIN = Path(sys.executable).parent
SCENARIOS: list[tuple[str, int, int]] = [("1 row, c=1", 1, 1), ("1 row, c=32", 1, 32), ("100 rows, c=8", 100, 8)]
KEY_SCENARIO = "1 row, c=32"
DEFAULT_REPEAT = 3


# --- the model --------------------------------------------------------------------------------


@dataclass
class Model:
    mlflow_dir: Path
    pickle_path: Path
    rows: Any  # numpy array of request rows
    expected: list[int]


def build_model(work: Path) -> Model:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    y = (x[:, 0] + 0.5 * x[:, 3] > 0).astype(np.int64)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame = pd.DataFrame(x, columns=names)
    mlflow_dir = work / "model-mlflow"
    if mlflow_dir.exists():
        shutil.rmtree(mlflow_dir)
    # The usual MLflow setup: fitted on a DataFrame, saved with an input example (and signature).
    fitted = LogisticRegression().fit(frame, y)
    mlflow.sklearn.save_model(fitted, str(mlflow_dir), input_example=frame.head(3), pip_requirements=["scikit-learn"])
    # Peers get the same model fitted on the bare array (same coefficients, no feature names).
    plain = LogisticRegression().fit(x, y)
    pickle_path = work / "model.pkl"
    pickle_path.write_bytes(pickle.dumps(plain))
    import joblib

    joblib.dump(plain, work / "model.joblib")  # MLServer's scikit-learn runtime loads joblib files
    rows = rng.normal(size=(100, 4)).round(6)
    return Model(mlflow_dir, pickle_path, rows, fitted.predict(pd.DataFrame(rows, columns=names)).tolist())


# --- request bodies -----------------------------------------------------------------------------


def body_instances(rows: Any) -> bytes:
    return json.dumps({"instances": rows.tolist()}).encode()


def body_split(rows: Any) -> bytes:
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return json.dumps({"dataframe_split": {"columns": cols, "data": rows.tolist()}}).encode()


def body_oip(rows: Any) -> bytes:
    return json.dumps(
        {"inputs": [{"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}]}
    ).encode()


def body_bentoml(rows: Any) -> bytes:
    return json.dumps({"instances": rows.tolist()}).encode()


def predictions_of(kind: str, answer: dict[str, Any]) -> list[int]:
    if kind == "oip":
        return [int(v) for v in answer["outputs"][0]["data"]]
    preds = answer["predictions"] if isinstance(answer, dict) else answer
    return [int(v) for v in preds]


# --- servers --------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    label: str
    path: str
    body: Callable[[Any], bytes]
    kind: str  # how to read predictions: "oip" or "predictions"


@dataclass
class Server:
    key: str
    label: str
    health: str
    endpoints: list[Endpoint]
    start: Callable[[int, Model, set[int] | None, Path], Process]
    venv: tuple[str, list[str], str] | None = None  # (name, requirements, import check)
    startup_timeout_s: float = 120.0


def _cnai(batching: bool) -> Callable[[int, Model, set[int] | None, Path], Process]:
    def start(port: int, model: Model, cores: set[int] | None, logs: Path) -> Process:
        # Batching on is cnai's default: no batching flag at all. CNAI_*/MLFLOW_* variables of the
        # shell are left out so the server runs with the defaults a user gets.
        argv = [str(BIN / "cnai"), "serve", f"lr={model.mlflow_dir}", "--port", str(port),
                "--home", str(WORK / "cnai-home")]  # fmt: skip
        if not batching:
            argv += ["--max-batch-size", "1"]
        name = f"cnai-{'batch' if batching else 'nobatch'}"
        return start_process(name, argv, log_path=logs / f"{name}.log", cores=cores, drop_env=SERVER_ENV_PREFIXES)

    return start


def _cnai_batch_defaults() -> tuple[int, float]:
    """cnai's default batching limits (rows per batch, longest wait in ms); batching peers get the same."""
    from cnai.serving.settings import ServeSettings

    fields = ServeSettings.model_fields
    return int(fields["max_batch_size"].default), float(fields["max_batch_delay_ms"].default)


BATCH_SIZE, BATCH_DELAY_MS = _cnai_batch_defaults()


def _batch_env(batching: bool) -> dict[str, str]:
    """How the peer scripts learn to turn their own batching on (see bench/_serving_peers/)."""
    if not batching:
        return {}
    return {"BENCH_MAX_BATCH_SIZE": str(BATCH_SIZE), "BENCH_MAX_BATCH_DELAY_MS": str(BATCH_DELAY_MS)}


def _mlflow(port: int, model: Model, cores: set[int] | None, logs: Path) -> Process:
    argv = [str(BIN / "mlflow"), "models", "serve", "-m", str(model.mlflow_dir), "-p", str(port),
            "-h", "127.0.0.1", "--env-manager", "local"]  # fmt: skip
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}"}  # it execs `uvicorn` from PATH
    return start_process(
        "mlflow", argv, log_path=logs / "mlflow.log", cores=cores, env=env, drop_env=SERVER_ENV_PREFIXES
    )


def _bare(port: int, model: Model, cores: set[int] | None, logs: Path) -> Process:
    argv = [sys.executable, str(PEERS_DIR / "bare.py"), str(model.pickle_path), str(port)]
    return start_process("bare", argv, log_path=logs / "bare.log", cores=cores)


def _venv_python(name: str) -> str:
    return str(VENVS_DIR / name / "bin" / "python")


def _kserve(port: int, model: Model, cores: set[int] | None, logs: Path) -> Process:
    argv = [_venv_python("kserve"), str(PEERS_DIR / "kserve_server.py"), str(model.pickle_path), str(port)]
    return start_process("kserve", argv, log_path=logs / "kserve.log", cores=cores)


def _bentoml(batching: bool) -> Callable[[int, Model, set[int] | None, Path], Process]:
    def start(port: int, model: Model, cores: set[int] | None, logs: Path) -> Process:
        argv = [str(VENVS_DIR / "bentoml" / "bin" / "bentoml"), "serve", "bentoml_service:LR",
                "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        env = {
            "BENCH_MODEL_PICKLE": str(model.pickle_path),
            "BENTOML_HOME": str(WORK / "bentoml-home"),
            **_batch_env(batching),
        }
        name = f"bentoml-{'batch' if batching else 'nobatch'}"
        return start_process(name, argv, log_path=logs / f"{name}.log", cores=cores, env=env, cwd=PEERS_DIR)

    return start


def _ray(batching: bool) -> Callable[[int, Model, set[int] | None, Path], Process]:
    def start(port: int, model: Model, cores: set[int] | None, logs: Path) -> Process:
        argv = [_venv_python("ray"), str(PEERS_DIR / "ray_server.py"), str(model.pickle_path), str(port)]
        env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0", **_batch_env(batching)}
        name = f"ray-{'batch' if batching else 'nobatch'}"
        return start_process(name, argv, log_path=logs / f"{name}.log", cores=cores, env=env)

    return start


def _mlserver(batching: bool) -> Callable[[int, Model, set[int] | None, Path], Process]:
    """`mlserver start DIR` with the scikit-learn runtime; batching through model-settings.json."""

    def start(port: int, model: Model, cores: set[int] | None, logs: Path) -> Process:
        name = f"mlserver-{'batch' if batching else 'nobatch'}"
        folder = WORK / name
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "lr").mkdir(parents=True)
        settings = {
            "host": "127.0.0.1",
            "http_port": port,
            "grpc_port": free_port(),
            "metrics_port": free_port(),
        }
        model_settings: dict[str, Any] = {
            "name": "lr",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(model.pickle_path.with_name("model.joblib"))},
        }
        if batching:
            # MLServer's adaptive batching: up to max_batch_size requests, waiting at most
            # max_batch_time seconds for them.
            model_settings["max_batch_size"] = BATCH_SIZE
            model_settings["max_batch_time"] = BATCH_DELAY_MS / 1000
        (folder / "settings.json").write_text(json.dumps(settings))
        (folder / "lr" / "model-settings.json").write_text(json.dumps(model_settings))
        argv = [str(VENVS_DIR / "mlserver" / "bin" / "mlserver"), "start", str(folder)]
        return start_process(name, argv, log_path=logs / f"{name}.log", cores=cores, cwd=folder)

    return start


def _pins() -> list[str]:
    import numpy
    import sklearn

    return [f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}"]


OIP = Endpoint("OIP v2", "/v2/models/lr/infer", body_oip, "oip")
INVOCATIONS = Endpoint("/invocations", "/invocations", body_split, "predictions")
PEER_PREDICT = Endpoint("POST /predict", "/predict", body_instances, "p")
KSERVE_VENV = ("kserve", ["kserve"], "import kserve, sklearn")
BENTOML_VENV = ("bentoml", ["bentoml"], "import bentoml, sklearn")
RAY_VENV = ("ray", ["ray[serve]"], "import ray.serve, sklearn")
# MLServer 1.7's inference worker calls asyncio.get_event_loop() at start, which uvloop 0.22 turned
# into an error (the model never loads); uvloop 0.21 is the newest it works with.
MLSERVER_VENV = (
    "mlserver",
    ["mlserver", "mlserver-sklearn", "uvloop<0.22"],
    "import mlserver, mlserver_sklearn, sklearn, uvloop\n"
    "assert tuple(map(int, uvloop.__version__.split('.')[:2])) < (0, 22)",
)
SERVERS: dict[str, Server] = {
    "cnai": Server("cnai", "cnai serve, batching on", "/v2/health/ready", [OIP, INVOCATIONS], _cnai(True)),
    "cnai-nobatch": Server(
        "cnai-nobatch", "cnai serve, batching off", "/v2/health/ready", [OIP, INVOCATIONS], _cnai(False)
    ),
    "bare": Server("bare", "bare uvicorn + Starlette", "/health", [PEER_PREDICT], _bare),
    "mlflow": Server("mlflow", "mlflow models serve", "/ping", [INVOCATIONS], _mlflow),
    "kserve": Server(
        "kserve",
        "KServe model server",
        "/v2/health/live",
        [Endpoint("v1 :predict", "/v1/models/lr:predict", body_instances, "p")],
        _kserve,
        venv=KSERVE_VENV,
    ),
    "bentoml": Server("bentoml", "BentoML", "/readyz", [PEER_PREDICT], _bentoml(False), venv=BENTOML_VENV),
    "bentoml-batch": Server(
        "bentoml-batch", "BentoML, batching on", "/readyz", [PEER_PREDICT], _bentoml(True), venv=BENTOML_VENV
    ),
    "ray": Server(
        "ray", "Ray Serve", "/-/healthz", [PEER_PREDICT], _ray(False), venv=RAY_VENV, startup_timeout_s=240.0
    ),
    "ray-batch": Server(
        "ray-batch",
        "Ray Serve, batching on",
        "/-/healthz",
        [PEER_PREDICT],
        _ray(True),
        venv=RAY_VENV,
        startup_timeout_s=240.0,
    ),
    "mlserver": Server("mlserver", "MLServer", "/v2/health/ready", [OIP], _mlserver(False), venv=MLSERVER_VENV),
    "mlserver-batch": Server(
        "mlserver-batch", "MLServer, batching on", "/v2/health/ready", [OIP], _mlserver(True), venv=MLSERVER_VENV
    ),
}
CNAI_KEYS = ("cnai", "cnai-nobatch")
# Everything but cnai itself, the bare endpoint (the limit, not a product) and mlflow (its own target).
PEER_KEYS = ("kserve", "bentoml", "bentoml-batch", "ray", "ray-batch", "mlserver", "mlserver-batch")
NOT_BATCHED = {
    "KServe model server": "its Python server has no batching; KServe batches in its agent sidecar"
    " (`spec.predictor.batcher`), on Kubernetes only",
    "mlflow models serve": "no batching",
    "bare uvicorn + Starlette": "no batching, by design (the limit of one predict per request)",
}


# --- load generation --------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    error: str = ""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def run_wrk(url: str, body: bytes, concurrency: int, seconds: float, cores: set[int] | None, work: Path) -> Result:
    body_path = work / f"body-{len(body)}.json"
    body_path.write_bytes(body)
    script = work / f"post-{len(body)}.lua"
    script.write_text(
        f'wrk.method = "POST"\nlocal f = io.open("{body_path}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s",
            "-s", str(script), url]  # fmt: skip
    if cores:
        argv = ["taskset", "-c", ",".join(str(c) for c in sorted(cores)), *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    res = Result()
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            res.rps = float(line.split()[1])
        elif line.startswith("50%"):
            res.p50_ms = _ms(line.split()[1])
        elif line.startswith("99%"):
            res.p99_ms = _ms(line.split()[1])
        elif " requests in " in line:
            res.requests = int(line.split()[0])
        elif line.startswith("Non-2xx"):
            res.errors += int(line.split()[-1])
        elif line.startswith("Socket errors"):
            res.errors += sum(int(n) for n in re.findall(r"\d+", line))
    if not res.requests:
        res.error = f"wrk produced no result: {out[-300:]}"
    return res


def check_answer(url: str, endpoint: Endpoint, model: Model) -> None:
    rows = model.rows[:5]
    req = urllib.request.Request(url, data=endpoint.body(rows), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        got = predictions_of(endpoint.kind, json.loads(resp.read()))
    if got != model.expected[:5]:
        raise BenchError(f"{url} answered {got}, expected {model.expected[:5]}")


# --- orchestration ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    # (server label, endpoint) -> scenario -> one Result per round
    rows: dict[tuple[str, str], dict[str, list[Result]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # peer package -> version in its venv
    rounds: int = 1


def measure(
    server: Server,
    model: Model,
    seconds: float,
    warmup: float,
    outcome: Outcome,
    scenarios: list[tuple[str, int, int]] = SCENARIOS,
) -> None:
    """One round for `server`: start it fresh, check its answer, run every scenario, stop it."""
    server_cores, client_cores = core_plan()
    logs = WORK / "logs"
    if server.venv is not None:
        name, reqs, check = server.venv
        try:
            ensure_venv(
                VENVS_DIR / name, [*reqs, *_pins()], check, python=sys.executable, log_path=logs / f"venv-{name}.log"
            )
        except BenchError as exc:
            outcome.notes[server.label] = f"could not install: {str(exc).splitlines()[0]}"
            return
        package = reqs[0].split("[")[0]
        if package not in outcome.versions:
            code = f"import importlib.metadata as m; print(m.version({package!r}))"
            outcome.versions[package] = venv_output(VENVS_DIR / name, code)
    port = free_port()
    with Cleanup() as cleanup:
        try:
            proc = server.start(port, model, server_cores, logs)
            cleanup.push(server.key, proc.stop)
            startup = wait_healthy(proc, f"http://127.0.0.1:{port}{server.health}", server.startup_timeout_s)
        except BenchError as exc:
            outcome.notes[server.label] = f"did not start: {str(exc).splitlines()[0]}"
            return
        print(f"{server.label}: up in {startup:.1f}s", flush=True)
        for endpoint in server.endpoints:
            url = f"http://127.0.0.1:{port}{endpoint.path}"
            key = (server.label, endpoint.label)
            per = outcome.rows.setdefault(key, {})
            try:
                check_answer(url, endpoint, model)
            except Exception as exc:
                outcome.notes[f"{server.label} {endpoint.label}"] = f"wrong or no answer: {exc}"
                continue
            for scenario, nrows, conc in scenarios:
                body = endpoint.body(model.rows[:nrows])
                if warmup:
                    run_wrk(url, body, conc, warmup, client_cores, WORK)
                res = run_wrk(url, body, conc, seconds, client_cores, WORK)
                per.setdefault(scenario, []).append(res)
                print(
                    f"  {endpoint.label:14} {scenario:14} {res.rps:9.0f} req/s  p50 {res.p50_ms:7.2f} ms"
                    f"  p99 {res.p99_ms:7.2f} ms  errors {res.errors}",
                    flush=True,
                )


# --- report -------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """A scenario's rounds folded into one cell: the median of each number over the rounds that ran."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # failed requests, summed over the rounds
    measured: int  # rounds with a result
    failed: int  # rounds whose load generator produced nothing


def summarize(results: list[Result] | None) -> Summary | None:
    if not results:
        return None
    ok = [r for r in results if not r.error]
    if not ok:
        return Summary(0.0, 0.0, 0.0, sum(r.errors for r in results), 0, len(results))
    return Summary(
        rps=statistics.median(r.rps for r in ok),
        p50_ms=statistics.median(r.p50_ms for r in ok),
        p99_ms=statistics.median(r.p99_ms for r in ok),
        errors=sum(r.errors for r in results),
        measured=len(ok),
        failed=len(results) - len(ok),
    )


def _cell(summary: Summary | None, rounds: int) -> str:
    if summary is None:
        return "—"
    if not summary.measured:
        return "failed"
    text = f"{summary.rps:,.0f} ({summary.p50_ms:.1f} / {summary.p99_ms:.1f} ms)"
    if summary.measured < rounds:  # a round that did not start or produced nothing: say so
        text += f" [median of {summary.measured}]"
    return text


def markdown(outcome: Outcome, command: str, seconds: float, warmup: float) -> str:
    server_cores, client_cores = core_plan()
    n = outcome.rounds
    lines = [
        "# Serving benchmark",
        "",
        f"`{command}` — {now_utc()}; {machine_summary()}; load average before: {load_average()}.",
        f"Server pinned to cores {sorted(server_cores or [])}, load generator (wrk, 1 thread) to "
        f"{sorted(client_cores or [])}; {seconds:g} s per scenario after a {warmup:g} s warm-up; JSON bodies; "
        "LogisticRegression on 4 features. "
        f"{n} round{'s' if n != 1 else ''}, every server restarted each round, servers in rotation. "
        f"Cells: requests/s (p50 / p99 latency), each number the median of {n} round{'s' if n != 1 else ''}.",
        f"cnai runs with its defaults (batching on: {BATCH_SIZE} rows per batch, {BATCH_DELAY_MS:g} ms wait)"
        " and with `--max-batch-size 1`. Peers with batching of their own run without it and with it, at cnai's"
        f" limits where they take them: BentoML `@bentoml.api(batchable=True, max_batch_size={BATCH_SIZE})`"
        " (adaptive wait), Ray Serve"
        f" `@serve.batch(max_batch_size={BATCH_SIZE}, batch_wait_timeout_s={BATCH_DELAY_MS / 1000:g})`, MLServer"
        f" `max_batch_size: {BATCH_SIZE}, max_batch_time: {BATCH_DELAY_MS / 1000:g}` (Ray and MLServer count"
        " requests per batch, cnai and BentoML rows).",
        f"Versions: {_versions(outcome)}.",
        "",
        "| server | endpoint | " + " | ".join(s for s, _, _ in SCENARIOS) + " | failed requests |",
        "|---|---|" + "---|" * len(SCENARIOS) + "---|",
    ]
    for (label, endpoint), per in outcome.rows.items():
        summaries = {s: summarize(per.get(s)) for s, _, _ in SCENARIOS}
        errors = sum(x.errors for x in summaries.values() if x is not None)
        cells = [_cell(summaries[s], n) for s, _, _ in SCENARIOS]
        lines.append(f"| {label} | {endpoint} | " + " | ".join(cells) + f" | {errors} |")
    for label, note in outcome.notes.items():
        lines.append(f"| {label} | — | {note} |" + " |" * (len(SCENARIOS)))
    lines += ["", "Without batching of their own: " + "; ".join(f"{k}: {v}" for k, v in NOT_BATCHED.items()) + "."]
    lines += ["", *targets(outcome)]
    return "\n".join(lines) + "\n"


def _versions(outcome: Outcome) -> str:
    from importlib.metadata import version

    local = {name: version(name) for name in ("cnai", "mlflow", "scikit-learn")}
    return ", ".join(f"{name} {v}" for name, v in {**local, **outcome.versions}.items())


def targets(outcome: Outcome) -> list[str]:
    def get(label: str, endpoint: str | None = None) -> Summary | None:
        for (lab, ep), per in outcome.rows.items():
            if lab == label and (endpoint is None or ep == endpoint):
                found = summarize(per.get(KEY_SCENARIO))
                return found if found is not None and found.measured else None
        return None

    mlflow = get(SERVERS["mlflow"].label)
    bare = get(SERVERS["bare"].label)
    # The best other peer over every peer row, batched and unbatched alike.
    peers = [(SERVERS[k].label, get(SERVERS[k].label)) for k in PEER_KEYS]
    measured = [(label, p) for label, p in peers if p is not None]
    best_label, best_peer = max(measured, key=lambda lp: lp[1].rps, default=(None, None))
    batched = [(label, p) for label, p in measured if "batching on" in label]
    best_batched_label, best_batched = max(batched, key=lambda lp: lp[1].rps, default=(None, None))
    out = [
        f"Targets, scenario {KEY_SCENARIO} (medians of {outcome.rounds} round{'s' if outcome.rounds != 1 else ''}):",
        "",
    ]

    def line(text: str, ok: bool | None) -> None:
        out.append(f"- {text}: {'met' if ok else 'not met' if ok is not None else 'not measured'}")

    for ep in ("OIP v2", "/invocations"):
        on, off = get(SERVERS["cnai"].label, ep), get(SERVERS["cnai-nobatch"].label, ep)
        if on and mlflow:
            line(f"cnai {ep} ≥ 10x mlflow models serve ({on.rps / mlflow.rps:.1f}x)", on.rps >= 10 * mlflow.rps)
        if on and best_peer:
            line(
                f"cnai {ep} ≥ 2.5x the best other peer, {best_label} ({on.rps / best_peer.rps:.1f}x)",
                on.rps >= 2.5 * best_peer.rps,
            )
        if on and best_batched:
            line(
                f"cnai {ep} batching on ≥ 2.5x the best peer with its batching on, {best_batched_label}"
                f" ({on.rps / best_batched.rps:.1f}x)",
                on.rps >= 2.5 * best_batched.rps,
            )
        if off and bare:
            line(f"cnai {ep} batching off ≥ 90% of bare ({off.rps / bare.rps:.0%})", off.rps >= 0.9 * bare.rps)
        if on and bare:
            line(
                f"cnai {ep} batching on above bare with a lower p99 ({on.rps / bare.rps:.0%}, "
                f"p99 {on.p99_ms:.1f} vs {bare.p99_ms:.1f} ms)",
                on.rps > bare.rps and on.p99_ms < bare.p99_ms,
            )
    cnai_labels = {SERVERS[k].label for k in CNAI_KEYS}
    total_errors = sum(
        r.errors for (label, _), per in outcome.rows.items() if label in cnai_labels for rs in per.values() for r in rs
    )
    line(f"cnai zero failed requests, all rounds ({total_errors})", total_errors == 0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma list from {','.join(SERVERS)}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per scenario")
    parser.add_argument("--quick", action="store_true", help="2 s per scenario, 1 s warm-up, 1 round")
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--scenarios", default="", help="only scenarios whose name contains one of these (comma list), e.g. c=32"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help=f"rounds over every server in turn; cells show medians [default: {DEFAULT_REPEAT}, 1 with --quick]",
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else DEFAULT_REPEAT
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    keys = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = set(keys) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}")
    if shutil.which("wrk") is None:
        print("installing wrk (Debian package) for the load generator", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        if shutil.which("wrk") is None:
            print("wrk is required: apt-get install wrk", file=sys.stderr)
            return 2
    seconds, warmup = (2.0, 1.0) if args.quick else (args.duration, args.warmup)
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    scenarios = [s for s in SCENARIOS if not wanted or any(w in s[0] for w in wanted)]
    if not scenarios:
        parser.error(f"no scenario matches {args.scenarios!r}; scenarios: {[s for s, _, _ in SCENARIOS]}")
    full = (
        not args.quick
        and len(keys) == len(SERVERS)
        and len(scenarios) == len(SCENARIOS)
        and args.repeat == DEFAULT_REPEAT
        and (args.duration, args.warmup) == (10.0, 2.0)
        and argv is None
        and args.output is None
    )
    output = args.output or ((RESULTS_DIR if full else WORK) / "serving.md")
    WORK.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python bench/serving.py", *(argv if argv is not None else sys.argv[1:])])
    outcome = Outcome(rounds=args.repeat)
    with bench_lock(), sigterm_as_interrupt():
        try:
            model = build_model(WORK)
            # Rounds rotate through every server before repeating, so a slow spell on the machine
            # is shared out rather than landing on one server's every round.
            for round_ in range(args.repeat):
                if args.repeat > 1:
                    print(f"--- round {round_ + 1} of {args.repeat}", flush=True)
                for key in keys:
                    measure(SERVERS[key], model, seconds, warmup, outcome, scenarios)
        except KeyboardInterrupt:
            print("interrupted; servers stopped", file=sys.stderr)
            return 130
    text = markdown(outcome, command, seconds, warmup)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
