"""The ``xgboost`` flavor: the native model class mlflow saved (XGBClassifier, Booster, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnai.serving.runtimes.base import ModelDir, ModelInput, Runtime
from cnai.serving.runtimes.estimator import EstimatorRuntime


class BoosterRuntime(Runtime):
    """A bare ``xgboost.Booster``: predictions through a DMatrix."""

    flavor = "xgboost"

    def __init__(self, model_dir: ModelDir, booster: Any) -> None:
        super().__init__(model_dir)
        self.booster = booster
        self.booster.feature_names = None

    def predict(self, data: ModelInput, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        import xgboost

        return {"predict": np.asarray(self.booster.predict(xgboost.DMatrix(np.asarray(data))))}


def load(model_dir: ModelDir) -> Runtime:
    import mlflow.xgboost
    import xgboost

    model = mlflow.xgboost.load_model(str(model_dir.path))
    if isinstance(model, xgboost.Booster):
        return BoosterRuntime(model_dir, model)
    return EstimatorRuntime(model_dir, model, "xgboost")
