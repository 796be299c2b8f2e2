"""A minimal pooled HTTP/1.1 client for the router's hop to a replica.

Why not httpx: measured on the 2-core machine with ``wrk -c16`` (OIP infer, one-row sklearn model)
against one ``cnai serve`` replica answering about 5,700 requests/s alone, a uvicorn app
forwarding with a pooled ``httpx.AsyncClient`` answered about 340 requests/s; the router with this
client about 4,300 (router and replica sharing the two cores). httpx's per-request machinery
(anyio, pool locking, request and response models) costs milliseconds of CPU under concurrency.
The router's hop is narrow (loopback, HTTP/1.1, bodies read whole, one replica per pool), so an
``asyncio.Protocol`` per connection with httptools' parser (installed with ``uvicorn[standard]``)
does the job in a fraction of the time.

Errors say whether a retry on another replica is safe: :class:`ConnectFailed` (nothing was sent)
and :class:`ConnectionCut` (the replica died before a complete answer) are retryable;
:class:`UpstreamTimeout` is not (the replica may still be working on the request).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import cast

import httptools


class UpstreamError(Exception):
    retryable = False


class ConnectFailed(UpstreamError):
    retryable = True


class ConnectionCut(UpstreamError):
    retryable = True


class UpstreamTimeout(UpstreamError):
    pass


Headers = list[tuple[bytes, bytes]]


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, Headers, bytes]] | None = None
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._status = 0
        self.received_any = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport (what `cnai up` runs on) is not an asyncio.Transport subclass,
        # though it has the same methods: a cast, not an isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionCut(f"malformed response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionCut("connection closed before a complete response"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._status, self._headers, b"".join(self._body)))

    def _fail(self, exc: UpstreamError) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def exchange(self, data: bytes, timeout: float) -> tuple[int, Headers, bytes]:
        assert self.transport is not None
        self._headers, self._body, self._status, self.received_any = [], [], 0, False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await asyncio.wait_for(self._waiter, timeout)
        except TimeoutError:
            self.close()
            raise UpstreamTimeout(f"no answer within {timeout:g} s") from None
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Keep-alive connections to one replica (``host:port``)."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 2.0, max_idle: int = 256) -> None:
        self.host, self.port = host, port
        self._authority = f"{host}:{port}".encode()
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port), self._connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return conn

    async def request(
        self, method: str, target: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes, timeout: float
    ) -> tuple[int, Headers, bytes]:
        head = [method.encode(), b" ", target, b" HTTP/1.1\r\nhost: ", self._authority, b"\r\n"]
        for name, value in headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-length: ", str(len(body)).encode(), b"\r\n\r\n", body]
        data = b"".join(head)
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            try:
                result = await conn.exchange(data, timeout)
            except ConnectionCut:
                if conn.received_any:
                    raise
                continue  # an idle connection the replica had closed: try the next, then a fresh one
            self._release(conn)
            return result
        conn = await self._connect()
        result = await conn.exchange(data, timeout)
        self._release(conn)
        return result

    def _release(self, conn: _Connection) -> None:
        if conn.closed:
            return
        if len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            with contextlib.suppress(Exception):
                conn.close()
        self._idle.clear()
