"""The listening socket of both servers, bound before anything slow starts, and uvicorn run on it.

A port that is taken should be reported in a second, not after the migrations ran, the models
were downloaded and the controllers started (uvicorn binds only after its lifespan startup). So
``bind`` runs first and holds the port, and ``run`` hands the bound socket to uvicorn. ``on_ready``
(the banner) is called once uvicorn accepts connections on it, never before, so a server that
fails to start never claims it is up.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from cnai.errors import InvalidArgument, InvalidState


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound (not yet listening) to ``host:port``; one readable error if it cannot be.

    Bound but not listening, it refuses connections until the server is ready, as before, while
    no other process can take the port. ``SO_REUSEADDR`` as uvicorn sets it: a port left in
    TIME_WAIT by a server that just stopped is free, one with a live listener is not.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidArgument(f"Cannot bind {host!r}: {exc.strerror}: choose --host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from None
    return sock


def bound_port(sock: socket.socket) -> int:
    """The port ``sock`` is bound to (the one the system picked for port 0)."""
    return int(sock.getsockname()[1])


def _bind_error(host: str, port: int, exc: OSError) -> Exception:
    if exc.errno == errno.EADDRINUSE:
        return InvalidState(f"Port {port} on {host} is in use (by another cnai?): choose --port")
    if exc.errno == errno.EACCES:
        return InvalidArgument(f"Port {port} on {host} needs privileges to bind: choose --port above 1023")
    if exc.errno == errno.EADDRNOTAVAIL:
        return InvalidArgument(f"{host} is not an address of this machine: choose --host")
    return InvalidArgument(f"Cannot bind {host}:{port}: {exc.strerror or exc}")


class _Server(uvicorn.Server):
    """uvicorn's server with two hooks: work before it binds, and a call once it accepts."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        on_ready: Callable[[], None] | None,
        before: Callable[[], Awaitable[None]] | None,
        after: Callable[[], Awaitable[None]] | None,
    ) -> None:
        super().__init__(config)
        self._on_ready, self._before, self._after = on_ready, before, after
        self._before_done = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self._before is not None:
            await self._before()  # an error here ends run() with that error, nothing logged
            self._before_done = True
        await super().startup(sockets)
        if self.started and not self.should_exit and self._on_ready is not None:
            self._on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets)
        finally:
            if self._after is not None and self._before_done:
                await self._after()


def run(
    app: Any,
    sock: socket.socket,
    options: dict[str, Any],
    *,
    on_ready: Callable[[], None] | None = None,
    before: Callable[[], Awaitable[None]] | None = None,
    after: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``app`` in this process on the bound ``sock`` until Ctrl-C or SIGTERM.

    ``options`` are uvicorn's (``host``/``port`` only label its logs). ``before`` runs on the
    server's event loop before it accepts (a failure propagates as itself), ``after`` at shutdown.
    """
    config = uvicorn.Config(app, **options)
    server = _Server(config, on_ready=on_ready, before=before, after=after)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; the shutdown is done
        pass
    finally:
        sock.close()
