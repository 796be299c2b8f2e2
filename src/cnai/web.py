"""What every HTTP API of cnai shares, whatever its error shape: reading a bounded request body,
and classifying an exception into a stable code, a message and (where the code alone does not
say it) a status. The MLflow API and cnai's own ``/api/v1`` each render the result in their
protocol's shape with their own code -> status table (MLflow answers 400 where /api/v1 says 409).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request

from cnai.errors import CnaiError, PayloadTooLarge

log = logging.getLogger("cnai.api")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing more than ``max_bytes`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"Request body of {declared} bytes exceeds the limit of {max_bytes} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def classify(exc: Exception, request: Request) -> tuple[str, str, int | None]:
    """``(code, message, status or None)`` for an exception a handler did not expect to answer
    itself; unexpected ones are logged with their traceback, once."""
    if isinstance(exc, CnaiError):
        return exc.code, exc.message, None
    if isinstance(exc, DataError):  # e.g. a string longer than its column on PostgreSQL
        return "INVALID_PARAMETER_VALUE", f"A value does not fit its field: {_first_line(exc.orig)}", None
    if isinstance(exc, IntegrityError):  # a concurrent request created the same thing first
        return "RESOURCE_CONFLICT", f"Conflicting concurrent write: {_first_line(exc.orig)}", 409
    if isinstance(exc, OperationalError | PoolTimeout):  # locked or unreachable database: retrying helps
        log.warning("Database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return "TEMPORARILY_UNAVAILABLE", "The metadata store is busy or unreachable; retry shortly", None
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return "INTERNAL_ERROR", f"Internal error: {type(exc).__name__}", None


def _first_line(value: object) -> str:
    return str(value).strip().splitlines()[0][:200] if str(value).strip() else ""
