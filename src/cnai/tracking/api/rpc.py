"""MLflow's RPC-style endpoints: a message in, a message out.

Each resource module lists ``Endpoint`` s whose handlers are plain sync functions from a
``Message`` to a response dict.

Where they run depends on the store. On PostgreSQL a handler waits on the network, so it runs in
the threadpool and the event loop serves other connections meanwhile. On SQLite a handler is
sub-millisecond CPU work under the GIL, and SQLite admits one writer at a time anyway: running it
inline on the loop saves the thread hand-off (about a third of a small request's server time,
measured) and serialises writers without lock contention. Endpoints that can take long (searches)
are marked ``heavy`` and always go to the threadpool.

Two ways in, one behaviour. ``to_routes`` gives Starlette routes for every endpoint. ``RpcFastPath``
(a pure ASGI middleware inside the gate) answers the endpoints whose path is fixed straight from a
``(method, path)`` table: Starlette's router tries each of the app's routes in turn (dozens of
regular expressions before a tracking path matches) and wraps every request in a ``Request``, an
exception layer and a ``Response`` object, together a fifth of a log_metric's in-app time
(measured). Anything the table does not hold (paths with parameters, HEAD, unknown paths, other
methods) goes on to Starlette as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cnai.errors import PayloadTooLarge
from cnai.tracking.api.message import Message, body_message, query_message, read_message
from cnai.tracking.api.responses import EMPTY, error_response, ok

Handler = Callable[[Message], dict[str, Any] | None]
AsgiEndpoint = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    handler: Handler
    heavy: bool = False


def to_routes(
    prefixes: Sequence[str], endpoints: Sequence[Endpoint], max_body_bytes: int, *, inline: bool
) -> list[Route]:
    routes = []
    for ep in endpoints:
        endpoint = _wrap(ep.handler, max_body_bytes, inline=inline and not ep.heavy)
        for prefix in prefixes:
            routes.append(Route(prefix + ep.path, endpoint, methods=[ep.method], name=None))
    return routes


def _wrap(handler: Handler, max_body_bytes: int, *, inline: bool) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            message = await read_message(request, max_body_bytes)
            if request.path_params:
                message = message.merged(request.path_params)
            if inline:
                return ok(handler(message))
            return ok(await run_in_threadpool(handler, message))
        except Exception as exc:
            return error_response(exc, request)

    return endpoint


# --- the fast path ------------------------------------------------------------------------------


def fast_table(
    prefixes: Sequence[str], endpoints: Sequence[Endpoint], max_body_bytes: int, *, inline: bool
) -> dict[tuple[str, str], AsgiEndpoint]:
    """``(method, path) -> ASGI endpoint`` for every endpoint whose path has no parameters."""
    table: dict[tuple[str, str], AsgiEndpoint] = {}
    for ep in endpoints:
        if "{" in ep.path:
            continue
        endpoint = _asgi(ep.handler, max_body_bytes, inline=inline and not ep.heavy)
        for prefix in prefixes:
            table[(ep.method, prefix + ep.path)] = endpoint
    return table


class RpcFastPath:
    """Pure ASGI: answers the requests ``table`` holds, hands every other one to ``app``."""

    def __init__(self, app: ASGIApp, *, table: dict[tuple[str, str], AsgiEndpoint]) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.table.get((scope["method"], scope["path"]))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)


_JSON_HEADER = (b"content-type", b"application/json")


def _asgi(handler: Handler, max_body_bytes: int, *, inline: bool) -> AsgiEndpoint:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] == "GET":
                message = query_message(scope["query_string"])
            else:
                body = await _read_body(scope, receive, max_body_bytes)
                if body is None:  # the client went away: nobody to answer
                    return
                message = body_message(body)
            result = handler(message) if inline else await run_in_threadpool(handler, message)
            payload = orjson.dumps(result) if result else EMPTY
            status = 200
        except Exception as exc:
            # The same mapping as the routed path (and its logging, which wants a Request).
            response = error_response(exc, Request(scope))
            payload, status = bytes(response.body), response.status_code
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", b"%d" % len(payload)), _JSON_HEADER],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return endpoint


async def _read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body (None if the client disconnected), refusing more than ``max_bytes`` before
    reading it all, as ``cnai.web.read_body`` does."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > max_bytes:
                raise PayloadTooLarge(f"Request body of {value.decode()} bytes exceeds the limit of {max_bytes} bytes")
            break
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"Request body exceeds the limit of {max_bytes} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
