"""Ray Serve deployment with the same pickled model; one replica, one CPU.

Run: python ray_server.py MODEL_PICKLE PORT   (blocks; Ctrl-C / SIGTERM stops Ray)
"""

from __future__ import annotations

import pickle
import signal
import sys
import time

import numpy as np
import ray
from ray import serve
from starlette.requests import Request


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100)
class LR:
    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self.model = pickle.load(f)

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        return {"predictions": self.model.predict(np.asarray(body["instances"], dtype=np.float64)).tolist()}


def main() -> None:
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[2])})
    serve.run(LR.bind(sys.argv[1]), route_prefix="/predict", name="lr")

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
