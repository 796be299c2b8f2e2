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

Server-Sent Events (an LLM's streamed answer) are not read whole: with ``stream=True`` a response
whose content type is ``text/event-stream`` is handed over as soon as its head arrives, as a
:class:`StreamedBody` that yields each piece of the body the moment the replica writes it (no
buffering, so a client sees its first token when the replica sends it). Closing that body before
its end closes the connection, which is how a client's disconnect reaches the replica (it then
cancels the generation and frees its slot).
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
_EVENT_STREAM = b"text/event-stream"


class StreamedBody:
    """The body of a streamed (SSE) response, piece by piece as the replica writes it.

    Iterate it to the end (the connection then goes back to its pool) or ``close()`` it (the
    connection is closed). A replica that dies mid-stream raises :class:`ConnectionCut` from the
    iteration; one silent for ``timeout`` seconds raises :class:`UpstreamTimeout`.
    """

    def __init__(self, conn: _Connection, pool: UpstreamPool, timeout: float) -> None:
        self._conn = conn
        self._pool = pool
        self._timeout = timeout
        self._queue: asyncio.Queue[bytes | UpstreamError | None] = asyncio.Queue()
        self.done = False

    def _put(self, item: bytes | UpstreamError | None) -> None:
        self._queue.put_nowait(item)

    def __aiter__(self) -> StreamedBody:
        return self

    async def __anext__(self) -> bytes:
        if self.done:
            raise StopAsyncIteration
        try:
            item = await asyncio.wait_for(self._queue.get(), self._timeout)
        except TimeoutError:
            self.close()
            raise UpstreamTimeout(f"no data for {self._timeout:g} s") from None
        if item is None:  # the message is complete: the connection may serve the next request
            self.done = True
            self._conn.stream = None
            self._pool._release(self._conn)
            raise StopAsyncIteration
        if isinstance(item, UpstreamError):
            self.done = True
            raise item
        return item

    def close(self) -> None:
        """Stop reading before the end: the connection is closed (the replica sees a disconnect)."""
        if not self.done:
            self.done = True
            self._conn.close()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, Headers, bytes | StreamedBody]] | None = None
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._status = 0
        self.received_any = False
        self.stream: StreamedBody | None = None  # set while a streamed body is being read
        self._may_stream: StreamedBody | None = None  # offered by the request, taken for SSE answers

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
        if self.stream is not None:
            self.stream._put(ConnectionCut("connection closed in the middle of a streamed response"))
            self.stream = None

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        offered, self._may_stream = self._may_stream, None
        if offered is None or not any(
            k.lower() == b"content-type" and v.lower().startswith(_EVENT_STREAM) for k, v in self._headers
        ):
            return
        self.stream = offered
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._status, self._headers, offered))

    def on_body(self, body: bytes) -> None:
        if self.stream is not None:
            self.stream._put(body)
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        if self.stream is not None:
            self.stream._put(None)
            return
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._status, self._headers, b"".join(self._body)))

    def _fail(self, exc: UpstreamError) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def exchange(
        self, data: bytes, timeout: float, stream: StreamedBody | None = None
    ) -> tuple[int, Headers, bytes | StreamedBody]:
        assert self.transport is not None
        self._headers, self._body, self._status, self.received_any = [], [], 0, False
        self._may_stream = stream
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await asyncio.wait_for(self._waiter, timeout)
        except TimeoutError:
            self.close()
            raise UpstreamTimeout(f"no answer within {timeout:g} s") from None
        except asyncio.CancelledError:  # the caller gave up (its client left): the answer must not be
            self.close()  # read by the next request on this connection
            raise
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
        status, out, content = await self.exchange(method, target, headers, body, timeout)
        assert isinstance(content, bytes)
        return status, out, content

    async def exchange(
        self,
        method: str,
        target: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        timeout: float,
        *,
        stream: bool = False,
    ) -> tuple[int, Headers, bytes | StreamedBody]:
        """One request; with ``stream``, an SSE answer comes back as a :class:`StreamedBody` once its
        head arrives (``timeout`` then bounds the wait for the head and for each later piece)."""
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
                result = await conn.exchange(data, timeout, StreamedBody(conn, self, timeout) if stream else None)
            except ConnectionCut:
                if conn.received_any:
                    raise
                continue  # an idle connection the replica had closed: try the next, then a fresh one
            if not isinstance(result[2], StreamedBody):  # a streamed one goes back when read to its end
                self._release(conn)
            return result
        conn = await self._connect()
        result = await conn.exchange(data, timeout, StreamedBody(conn, self, timeout) if stream else None)
        if not isinstance(result[2], StreamedBody):
            self._release(conn)
        return result

    def _release(self, conn: _Connection) -> None:
        if conn.closed or conn.stream is not None:
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
