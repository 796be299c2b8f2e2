"""MLflow's RPC-style endpoints: a message in, a message out.

Each resource module lists ``Endpoint`` s whose handlers are plain sync functions from a
``Message`` to a response dict.

Where they run depends on the store. On PostgreSQL a handler waits on the network, so it runs in
the threadpool and the event loop serves other connections meanwhile. On SQLite a handler is
sub-millisecond CPU work under the GIL, and SQLite admits one writer at a time anyway: running it
inline on the loop saves the thread hand-off (about a third of a small request's server time,
measured) and serialises writers without lock contention. Endpoints that can take long (searches)
are marked ``heavy`` and always go to the threadpool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.tracking.api.message import Message, read_message
from cnai.tracking.api.responses import error_response, ok

Handler = Callable[[Message], dict[str, Any] | None]


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
