"""Training, logging and registering with the stock mlflow client, as a user's own script would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

MODEL_NAME = "quickstart-wine"
EXPERIMENT = "cnai-quickstart"
SWEEP = [0.01, 0.1, 1.0, 10.0]


@dataclass(frozen=True)
class Candidate:
    c: float
    accuracy: float
    run_id: str
    model_uri: str


def sweep(
    tracking_uri: str,
    x_train: pd.DataFrame,
    y_train: pd.Series,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    advance: Callable[[], None] = lambda: None,
) -> list[Candidate]:
    """One tracked run per regularisation strength, each logging its model."""
    return [
        _fit_and_log(tracking_uri, c, x_train, y_train, x_test, y_test, run_name=f"logreg-C{c}", advance=advance)
        for c in SWEEP
    ]


def retrain(tracking_uri: str, x: pd.DataFrame, y: pd.Series, x_test: pd.DataFrame, y_test: pd.Series) -> Candidate:
    """The best sweep setting refitted on old and fresh data together."""
    return _fit_and_log(tracking_uri, 1.0, x, y, x_test, y_test, run_name="retrain-after-drift")


def register(tracking_uri: str, candidate: Candidate, *, alias: str | None = None) -> str:
    """A new version of the quickstart model from ``candidate``'s run; returns its number."""
    import mlflow
    from mlflow import MlflowClient

    _point_mlflow_at(mlflow, tracking_uri)
    version = str(mlflow.register_model(candidate.model_uri, MODEL_NAME).version)
    if alias:
        MlflowClient(tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(MODEL_NAME, alias, version)
    return version


def _point_mlflow_at(mlflow: Any, tracking_uri: str) -> None:
    """Tracking and registry both on the quickstart's own plane: an MLFLOW_REGISTRY_URI left in the
    user's shell must not send the model versions somewhere else."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def _fit_and_log(
    tracking_uri: str,
    c: float,
    x_train: pd.DataFrame,
    y_train: pd.Series,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    *,
    run_name: str,
    advance: Callable[[], None] = lambda: None,
) -> Candidate:
    import mlflow
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _point_mlflow_at(mlflow, tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=run_name) as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
        model.fit(x_train, y_train)
        accuracy = float(model.score(x_test, y_test))
        mlflow.log_params({"model": "logistic_regression", "C": c, "rows": len(x_train)})
        mlflow.log_metrics({"accuracy": accuracy, "train_accuracy": float(model.score(x_train, y_train))})
        # The training sample travels with the run: a Monitor can use it as its reference.
        mlflow.log_text(x_train.to_csv(index=False), "reference.csv")
        # Naming the requirements skips mlflow's inference of them, which imports the model in a
        # subprocess and took 7.7 s per model here.
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=x_train.head(3),
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )
    advance()
    return Candidate(c, accuracy, run.info.run_id, info.model_uri)


def write_csv(frame: pd.DataFrame, path: Path, labels: Any = None) -> Path:
    out = frame.copy()
    if labels is not None:
        out["label"] = labels
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return path
