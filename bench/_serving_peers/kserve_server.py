"""KServe's Python model server (v1 protocol) with the same pickled model.

Run: python kserve_server.py MODEL_PICKLE PORT
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

import kserve
import numpy as np


class LR(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        with open(path, "rb") as f:
            self.model = pickle.load(f)
        self.ready = True

    def predict(self, payload: Any, headers: Any = None) -> Any:
        result = self.model.predict(np.asarray(payload["instances"], dtype=np.float64))
        return {"predictions": result.tolist()}


if __name__ == "__main__":
    model = LR("lr", sys.argv[1])
    kserve.ModelServer(http_port=int(sys.argv[2]), workers=1, enable_grpc=False).start([model])
