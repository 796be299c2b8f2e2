"""Transport limits for cnai's HTTP servers: slow clients and oversized headers cannot hold the server.

uvicorn's httptools protocol has no deadline for a request's head (a client that sends half a
request line and then nothing — slowloris — holds its connection forever), none for a body that
stops arriving, and no limit on header size. :class:`LimitedHttpToolsProtocol` adds the three, in
the protocol because that is where the bytes arrive and where a connection can be closed; the
control plane (``cnai server``), the model server (``cnai serve``) and a deployment's router all
run it through :func:`http_protocol`:

- **Head deadline** (``header_timeout_s``): from the moment a connection opens, or the first byte
  of a request on a kept-alive connection, the request line and headers must be complete within
  this time, else the connection is closed (with a 408 if the client had started a request).
  Idle time *between* requests stays with uvicorn's keep-alive timeout.
- **Head size** (``max_header_bytes``): request line plus headers. Over it, the client gets 431 and
  the connection is closed. Counted exactly in the parser callbacks, and also over the raw bytes of
  a head not yet complete, because the parser buffers a header value until it ends.
- **Body stall** (``body_timeout_s``): while a body is being received, a gap of this long with no
  body bytes gets 408 and the connection closed; the application sees ``http.disconnect``. It is
  a gap, not a total: a large upload on a slow link is fine as long as bytes keep coming. The clock
  runs only while the server is *waiting for the client*: not while reading is paused because the
  application has not consumed what it has (uvicorn's flow control), nor while the client waits for
  ``100 Continue``. That is why this lives in the protocol, which sees both, rather than in an ASGI
  ``receive`` wrapper, which would also have to be added to every application.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# How long a refused connection is still drained before it is closed (see _lingering_close).
LINGER_S = 2.0


@dataclass(frozen=True, slots=True)
class TransportLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_header_bytes: int = 64 * 1024


def http_protocol(limits: TransportLimits) -> Callable[..., asyncio.Protocol]:
    """The value for uvicorn's ``http=`` option.

    A partial of a module-level class with a plain dataclass: it pickles, so it reaches the
    worker processes uvicorn spawns for ``--workers N`` unchanged.
    """
    return functools.partial(LimitedHttpToolsProtocol, limits=limits)


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing; the 431 has been sent by then."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: TransportLimits = TransportLimits(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._reading_head = False
        self._head_bytes = 0  # exact: request line and headers the parser has handed us
        self._raw_head_bytes = 0  # bytes received while the head was incomplete
        self._rejected = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None

    # ---- connection --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        super().data_received(data)
        if self._reading_head and not self._rejected:
            self._raw_head_bytes += len(data)
            if self._raw_head_bytes > self.limits.max_header_bytes:
                self._reject(431, "Request header fields too large")

    def send_400_response(self, msg: str) -> None:
        if self._rejected:  # the parser stopped because we answered already (431)
            return
        super().send_400_response(msg)

    # ---- parser callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = self._raw_head_bytes = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body and not self._rejected:
            self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    # ---- limits ----------------------------------------------------------------------------------
    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.limits.max_header_bytes and not self._rejected:
            self._reject(431, "Request header fields too large")
            raise _HeadTooLarge

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._reading_head:
            self._reject(408, "Request header timeout")
        elif self.cycle is None:  # opened and never sent a byte
            self.transport.close()

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timed_out)

    def _body_timed_out(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if cycle is None or not cycle.more_body or self.transport.is_closing():
            return
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            self._arm_body_timer()  # we are not reading, or the client waits for us: not its stall
            return
        self._reject(408, "Request body timeout")

    def _reject(self, status: int, message: str) -> None:
        """Answer ``status`` (unless a response has started) and close the connection."""
        self._rejected = True
        self._cancel_timers()
        cycle = self.cycle  # while a head is read, the previous request's (a new one has none yet)
        if self._reading_head:
            can_answer = cycle is None or cycle.response_complete
        else:
            can_answer = cycle is None or not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            # The application, if running, now reads http.disconnect and its send() is a no-op.
            cycle.disconnected = True
            cycle.message_event.set()
        if can_answer and not self.transport.is_closing():
            body = message.encode("ascii")
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[status],
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(body),
                        b"connection: close\r\n\r\n",
                        body,
                    ]
                )
            )
        self.logger.info("closing connection from %s: %s", self.client, message)
        self._lingering_close()

    def _lingering_close(self) -> None:
        """Half-close, then drop what the client still sends for a moment before closing.

        Closing a socket with unread bytes in it makes the kernel answer with a reset, which can
        destroy the 431/408 before the client has read it (a client that sent 100 KB of headers
        has most of them still in flight). So: FIN after the answer, keep reading and discarding
        (``data_received`` ignores a rejected connection), close when the client does or after
        ``LINGER_S`` — Apache's "lingering close", for the same reason.
        """
        transport = self.transport
        if transport.is_closing() or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        with contextlib.suppress(RuntimeError, AttributeError):  # reading may be paused by flow control
            transport.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER_S, transport.close)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self._linger_timer = None
