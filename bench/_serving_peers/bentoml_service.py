"""BentoML service with the same pickled model (path in BENCH_MODEL_PICKLE).

Run: bentoml serve bentoml_service:LR --port PORT  (from this directory)

With BENCH_MAX_BATCH_SIZE set, the API is ``@bentoml.api(batchable=True, batch_dim=0,
max_batch_size=...)``: BentoML's adaptive batching (its CorkDispatcher, in the same worker) joins
concurrent requests along the rows and picks the wait itself; ``max_latency_ms`` keeps its default.
"""

from __future__ import annotations

import os
import pickle

import bentoml
import numpy as np

MAX_BATCH_SIZE = int(os.environ.get("BENCH_MAX_BATCH_SIZE", "0"))


@bentoml.service(workers=1, traffic={"timeout": 60})
class LR:
    def __init__(self) -> None:
        with open(os.environ["BENCH_MODEL_PICKLE"], "rb") as f:
            self.model = pickle.load(f)

    if MAX_BATCH_SIZE > 1:

        @bentoml.api(batchable=True, batch_dim=0, max_batch_size=MAX_BATCH_SIZE)
        def predict(self, instances: np.ndarray) -> np.ndarray:
            return self.model.predict(instances)

    else:

        @bentoml.api
        def predict(self, instances: np.ndarray) -> np.ndarray:
            return self.model.predict(instances)
