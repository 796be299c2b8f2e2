"""JSON responses and MLflow's error shape, mapped once for the whole API."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cnai.errors import CnaiError
from cnai.web import classify

# MLflow's error_code -> HTTP status table (mlflow/server/handlers.py), plus cnai's own codes.
STATUS_BY_CODE = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "RESOURCE_CONFLICT": 409,
    "ENDPOINT_NOT_FOUND": 404,
    "REQUEST_TOO_LARGE": 413,
    "INVALID_STATE": 409,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
}

EMPTY = b"{}"


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def ok(content: dict[str, Any] | None = None) -> Response:
    if not content:
        return Response(EMPTY, media_type="application/json")
    return JSON(content)


def error(code: str, message: str, status: int | None = None) -> Response:
    return JSON({"error_code": code, "message": message}, status_code=status or STATUS_BY_CODE.get(code, 500))


def error_response(exc: Exception, request: Request) -> Response:
    """The one mapping from an exception to MLflow's error shape.

    Handlers call it themselves rather than letting exceptions reach Starlette's error middleware,
    which would re-raise them to uvicorn: the traceback is logged twice and the client's
    keep-alive connection is reset.
    """
    code, message, status = classify(exc, request)
    return error(code, message, status)


async def on_cnai_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CnaiError)
    return error(exc.code, exc.message)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    return error_response(exc, request)
