"""The ``sklearn`` flavor, deserialised by mlflow's own loader (pickle, cloudpickle or skops)."""

from __future__ import annotations

from cnai.serving.runtimes.base import ModelDir
from cnai.serving.runtimes.estimator import EstimatorRuntime


def load(model_dir: ModelDir) -> EstimatorRuntime:
    import mlflow.sklearn

    return EstimatorRuntime(model_dir, mlflow.sklearn.load_model(str(model_dir.path)), "sklearn")
