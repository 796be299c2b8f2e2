"""`cnai quickstart`: the lifecycle so far, end to end, on embedded defaults.

It starts a control plane, then drives it exactly as a user would with the stock mlflow client:
a small hyperparameter sweep on a dataset that ships with scikit-learn, every run tracked, the
best model registered and aliased ``champion``, then loaded back by alias and used to predict.
Serving, drift monitoring and canary roll-outs join this loop as they land.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cnai.cli._common import build_settings, fail

EXPERIMENT = "cnai-quickstart"
MODEL_NAME = "quickstart-wine"
SWEEP = [0.01, 0.1, 1.0, 10.0]


def quickstart(
    home: Path = typer.Option(
        None, help="Where the embedded store and artifacts live. [env: CNAI_HOME; default: ~/.cnai]"
    ),
) -> None:
    """Track a sweep, register the best model as `champion`, and load it back by alias.

    Runs against a private control plane it starts on a free port (SQLite + local files under
    CNAI_HOME); run it again at will. Afterwards `cnai server` shows the same data.
    """
    try:
        import mlflow  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        fail("The quickstart needs mlflow and scikit-learn: run `make venv` (or pip install 'cnai[dev]').")
    settings = build_settings(home=home)
    _quiet_mlflow()
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    log_path = settings.home / "quickstart-server.log"
    settings.home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_path.open("wb") as log, _Server(settings.home, port, log) as server:
        columns = (SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            with _step(bar, f"Starting the control plane at {uri}"):
                server.wait_ready(uri, log_path)
            # mlflow prints UI links and notices of its own; the progress bar owns the terminal.
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                results = _sweep(uri, bar)
                best = max(results, key=lambda r: r["accuracy"])
                with _step(bar, f"Registering the best run as {MODEL_NAME}, alias champion"):
                    version = _register(uri, best)
                with _step(bar, f"Loading models:/{MODEL_NAME}@champion back"):
                    predictions = _load_and_predict(uri)
    _summary(results, best, version, predictions, settings.home, time.perf_counter() - started)


# Bound to the real stdout now: the quickstart silences mlflow's own prints around it.
console = Console(file=sys.stdout)


@contextlib.contextmanager
def _step(bar: Progress, description: str) -> Iterator[None]:
    task = bar.add_task(description, total=1)
    yield
    bar.update(task, completed=1)


def _quiet_mlflow() -> None:
    """mlflow's info logs, warnings and download bars would bury the quickstart's own output."""
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


class _Server:
    def __init__(self, home: Path, port: int, log: Any) -> None:
        # A private server: the user's own CNAI_* settings (a production store, a token) stay out.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNAI_")}
        env["CNAI_HOME"] = str(home)
        cmd = [sys.executable, "-m", "cnai.cli.main", "server", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--store", f"sqlite:///{home / 'cnai.db'}", "--artifacts", (home / "artifacts").as_uri()]
        cmd += ["--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def wait_ready(self, uri: str, log_path: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"The control plane exited early; see {log_path}")
            try:
                if httpx.get(f"{uri}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        fail(f"The control plane did not become ready in {timeout:.0f}s; see {log_path}")


def _sweep(uri: str, bar: Progress) -> list[dict[str, Any]]:
    import mlflow
    import sklearn
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(EXPERIMENT)
    data = load_wine(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.3, random_state=7)
    results = []
    task = bar.add_task("Training a sweep of LogisticRegression(C=...)", total=len(SWEEP))
    for c in SWEEP:
        with mlflow.start_run(run_name=f"logreg-C{c}") as run:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500))
            model.fit(x_train, y_train)
            accuracy = float(model.score(x_test, y_test))
            mlflow.log_params({"model": "logistic_regression", "C": c, "max_iter": 500})
            mlflow.log_metrics({"accuracy": accuracy, "train_accuracy": float(model.score(x_train, y_train))})
            # Naming the requirements skips mlflow's inference of them, which imports the model in
            # a subprocess and took 7.7 s per model here.
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=x_train.head(3),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            )
            results.append({"C": c, "accuracy": accuracy, "run_id": run.info.run_id, "model_uri": info.model_uri})
        bar.advance(task)
    return results


def _register(uri: str, best: dict[str, Any]) -> str:
    import mlflow
    from mlflow import MlflowClient

    version = mlflow.register_model(best["model_uri"], MODEL_NAME)
    MlflowClient(uri).set_registered_model_alias(MODEL_NAME, "champion", version.version)
    return str(version.version)


def _load_and_predict(uri: str) -> list[int]:
    import mlflow
    from sklearn.datasets import load_wine

    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    sample = load_wine(as_frame=True).data.head(5)
    return [int(p) for p in model.predict(sample)]


def _summary(
    results: list[dict[str, Any]],
    best: dict[str, Any],
    version: str,
    predictions: list[int],
    home: Path,
    took: float,
) -> None:
    table = Table(title="Sweep (wine dataset, held-out accuracy)")
    for col in ("C", "accuracy", "run id", ""):
        table.add_column(col)
    for r in results:
        table.add_row(str(r["C"]), f"{r['accuracy']:.3f}", r["run_id"], "[green]best[/]" if r is best else "")
    console.print(table)
    console.print(f"Registered [bold]{MODEL_NAME}[/] version {version}, alias [bold]champion[/] → v{version}")
    console.print(f"models:/{MODEL_NAME}@champion predicts {predictions} for the first five wines")
    console.print(f"Everything is stored under {home} (done in {took:.1f}s). To browse it:")
    console.print(
        "  cnai server &  then  cnai runs list --experiment cnai-quickstart  and  cnai models show quickstart-wine"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
