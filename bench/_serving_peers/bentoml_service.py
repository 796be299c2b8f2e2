"""BentoML service with the same pickled model (path in BENCH_MODEL_PICKLE).

Run: bentoml serve bentoml_service:LR --port PORT  (from this directory)
"""

from __future__ import annotations

import os
import pickle

import bentoml
import numpy as np


@bentoml.service(workers=1, traffic={"timeout": 60})
class LR:
    def __init__(self) -> None:
        with open(os.environ["BENCH_MODEL_PICKLE"], "rb") as f:
            self.model = pickle.load(f)

    @bentoml.api
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model.predict(instances)
