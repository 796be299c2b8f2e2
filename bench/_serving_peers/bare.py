"""The practical limit: a bare uvicorn + Starlette endpoint calling model.predict (no batching).

Run: python bare.py MODEL_PICKLE PORT
"""

from __future__ import annotations

import pickle
import sys

import numpy as np
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

with open(sys.argv[1], "rb") as f:
    MODEL = pickle.load(f)


async def predict(request: Request) -> Response:
    body = orjson.loads(await request.body())
    result = MODEL.predict(np.asarray(body["instances"], dtype=np.float64))
    return Response(
        orjson.dumps({"predictions": result}, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


async def health(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
