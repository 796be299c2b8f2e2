"""cnai's own API (``/api/v1``): JSON in, JSON out, errors as ``{"error": message, "code": CODE}``.

Shared by every ``/api/v1`` route (resources, feedback, deployments) so they answer bad input
the same way. Exceptions become responses here rather than in Starlette's error middleware,
which would log them twice and reset the client's keep-alive connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cnai.errors import InvalidArgument
from cnai.web import classify, read_body

STATUS_BY_CODE = {
    "INVALID_PARAMETER_VALUE": 400,
    "REQUEST_TOO_LARGE": 413,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "RESOURCE_ALREADY_EXISTS": 409,
    "INVALID_STATE": 409,
    "RESOURCE_CONFLICT": 409,
    "TEMPORARILY_UNAVAILABLE": 503,
}
Handler = Callable[[Request], Awaitable[Response]]


def json_response(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def error_response(exc: Exception, request: Request) -> Response:
    code, message, status = classify(exc, request)
    return json_response({"error": message, "code": code}, status or STATUS_BY_CODE.get(code, 500))


def handler(fn: Handler) -> Handler:
    """Wrap a route function so any exception becomes the v1 error shape."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except Exception as exc:
            return error_response(exc, request)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


async def read_json(request: Request, limit: int = 1024 * 1024) -> Any:
    """The request body as JSON; over ``limit`` bytes or not JSON -> 413 / 400."""
    body = await read_body(request, limit)
    if not body:
        raise InvalidArgument("Request body is empty: send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Request body is not valid JSON: {exc}") from None
