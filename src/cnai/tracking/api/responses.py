"""JSON responses and MLflow's error shape, mapped once for the whole API."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from cnai.errors import CnaiError

log = logging.getLogger("cnai.api")

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
    if isinstance(exc, CnaiError):
        return error(exc.code, exc.message)
    if isinstance(exc, DataError):  # e.g. a string longer than its column on PostgreSQL
        return error("INVALID_PARAMETER_VALUE", f"A value does not fit its field: {_first_line(exc.orig)}")
    if isinstance(exc, IntegrityError):  # a concurrent request created the same thing first
        return error("RESOURCE_CONFLICT", f"Conflicting concurrent write: {_first_line(exc.orig)}", 409)
    if isinstance(exc, OperationalError | PoolTimeout):  # locked or unreachable database: retrying helps
        log.warning("Database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error("TEMPORARILY_UNAVAILABLE", "The metadata store is busy or unreachable; retry shortly")
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error("INTERNAL_ERROR", f"Internal error: {type(exc).__name__}")


def _first_line(value: object) -> str:
    return str(value).strip().splitlines()[0][:200] if str(value).strip() else ""


async def on_cnai_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CnaiError)
    return error(exc.code, exc.message)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    return error_response(exc, request)
