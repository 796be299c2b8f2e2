"""The ``lightgbm`` flavor: a ``lightgbm.Booster`` or one of its scikit-learn classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnai.serving.runtimes.base import ModelDir, ModelInput, Runtime
from cnai.serving.runtimes.estimator import EstimatorRuntime


class LgbBoosterRuntime(Runtime):
    flavor = "lightgbm"

    def __init__(self, model_dir: ModelDir, booster: Any) -> None:
        super().__init__(model_dir)
        self.booster = booster

    def predict(self, data: ModelInput, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {"predict": np.asarray(self.booster.predict(data))}


def load(model_dir: ModelDir) -> Runtime:
    import lightgbm
    import mlflow.lightgbm

    model = mlflow.lightgbm.load_model(str(model_dir.path))
    if isinstance(model, lightgbm.Booster):
        return LgbBoosterRuntime(model_dir, model)
    return EstimatorRuntime(model_dir, model, "lightgbm")
