"""The generic ``python_function`` flavor: anything mlflow can load, fed DataFrames."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnai.serving.runtimes.base import ModelDir, ModelInput, Runtime


class PyfuncRuntime(Runtime):
    flavor = "python_function"
    needs_dataframe = True

    def __init__(self, model_dir: ModelDir, model: Any) -> None:
        super().__init__(model_dir)
        self.model = model

    def predict(self, data: ModelInput, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        result = self.model.predict(data)
        values = getattr(result, "to_numpy", None)
        arr = np.asarray(values() if callable(values) else result)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        return {"predict": arr}


def load(model_dir: ModelDir) -> Runtime:
    import mlflow.pyfunc

    return PyfuncRuntime(model_dir, mlflow.pyfunc.load_model(str(model_dir.path)))
