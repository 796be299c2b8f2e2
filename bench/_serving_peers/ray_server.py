"""Ray Serve deployment with the same pickled model; one replica, one CPU.

Run: python ray_server.py MODEL_PICKLE PORT   (blocks; Ctrl-C / SIGTERM stops Ray)

With BENCH_MAX_BATCH_SIZE set (and BENCH_MAX_BATCH_DELAY_MS), requests go through Ray Serve's
own batching, ``@serve.batch(max_batch_size=..., batch_wait_timeout_s=...)``: the handler gets
the arrays of up to that many requests and predicts them in one call.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import time

import numpy as np
import ray
from ray import serve
from starlette.requests import Request

MAX_BATCH_SIZE = int(os.environ.get("BENCH_MAX_BATCH_SIZE", "0"))
BATCH_WAIT_S = float(os.environ.get("BENCH_MAX_BATCH_DELAY_MS", "2")) / 1000


def _load(path: str) -> object:
    with open(path, "rb") as f:
        return pickle.load(f)


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100)
class LR:
    def __init__(self, path: str) -> None:
        self.model = _load(path)

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        return {"predictions": self.model.predict(np.asarray(body["instances"], dtype=np.float64)).tolist()}


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100)
class LRBatched:
    def __init__(self, path: str) -> None:
        self.model = _load(path)

    @serve.batch(max_batch_size=max(MAX_BATCH_SIZE, 1), batch_wait_timeout_s=BATCH_WAIT_S)
    async def predict(self, arrays: list[np.ndarray]) -> list[list[int]]:
        # One predict over every request's rows, then each request gets its own slice back.
        out = self.model.predict(np.vstack(arrays))
        bounds = np.cumsum([len(a) for a in arrays])[:-1]
        return [part.tolist() for part in np.split(out, bounds)]

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        return {"predictions": await self.predict(np.asarray(body["instances"], dtype=np.float64))}


def main() -> None:
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[2])})
    deployment = LRBatched if MAX_BATCH_SIZE > 1 else LR
    serve.run(deployment.bind(sys.argv[1]), route_prefix="/predict", name="lr")

    def stop(*_: object) -> None:
        serve.shutdown()
        ray.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
