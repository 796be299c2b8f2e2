"""A deployment's router: one HTTP port in front of its replicas.

What it does per request, in order:

1. **Split**: canary or primary, by the spec's percent, with a deterministic weighted choice
   (:class:`TrafficSplit`): of every 100 requests exactly ``percent`` go to the canary, so the
   share is right after a few hundred requests instead of drifting like a coin flip.
2. **Activate**: no replica at all (scaled to zero, or the first start) → the request is *held*,
   the controller is told at once (``on_demand``) and the request waits for a ready replica up to
   ``activation_timeout_s``, then gets 503. Knative's activator does the same job.
3. **Balance**: the replica with the fewest outstanding requests in the chosen target (ties go
   round-robin), which follows slow replicas better than round-robin and costs one pass over a
   handful of replicas.
4. **Retry**: a transport error before any answer (refused connection, connection cut by a dying
   replica) is retried on another replica, up to ``max_retries`` times. A refused connection was
   never processed; a cut one may have been, but a prediction is a pure function of its input, so
   running it twice is harmless (at worst a duplicate inference-log event). The failing replica is
   set aside for a moment so the next requests do not hit it while the controller notices.
   A read *timeout* is not retried: the replica may still be working on it.
5. **Measure**: per-target in-flight integral, counts, errors (5xx and transport failures) and
   latencies (:mod:`cnai.deploy.stats`) for the autoscaler and canary judge, and Prometheus series.

Any path is forwarded (OIP ``/v2/...``, ``/invocations``, ``/ping``...), with the body read whole
first: inference bodies are bounded and a retry needs them.

OpenAI routes (``/v1/...``, an LLM or embedding deployment) get three things more:

- **By model**: a POST whose JSON names a ``model`` this deployment does not serve is answered
  here with OpenAI's 404 (``model_not_found``) rather than sent to a replica. Primary and canary
  serve the same name, so the split stays the router's choice, not the client's.
- **Streaming**: a ``text/event-stream`` answer is relayed piece by piece as the replica writes
  it, never buffered (:class:`~cnai.deploy.upstream.StreamedBody`); the replica and its target
  count as busy until the stream ends, and a replica that dies mid-stream ends the client's
  stream with an error event (never a clean end that would pass for a complete answer).
- **Disconnects**: a client that goes away (before or during the answer) closes the router's
  connection to the replica, which cancels the generation there and frees its slot.

Errors on ``/v1`` paths are in OpenAI's shape; elsewhere ``{"error": "..."}`` as OIP.

The router runs in the controller's event loop, served by uvicorn's httptools protocol on a socket
the controller binds (see :class:`RouterServer`), and forwards over keep-alive connections per
replica (:mod:`cnai.deploy.upstream`, which says why not httpx).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import uvicorn

from cnai.deploy.metrics import DeployMetrics
from cnai.deploy.stats import TargetStats
from cnai.deploy.upstream import StreamedBody, UpstreamError, UpstreamPool
from cnai.errors import Unavailable
from cnai.http_transport import TransportLimits, http_protocol
from cnai.serving.openai_error import error_body

log = logging.getLogger("cnai.deploy.router")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PRIMARY, CANARY = "primary", "canary"
# RFC 9110 §7.6.1 hop-by-hop fields, plus the ones the forwarding client sets itself.
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
     b"transfer-encoding", b"upgrade", b"host", b"content-length", b"expect"}
)  # fmt: skip
SUSPECT_FOR_S = 2.0
MAX_BODY_BYTES = 64 * 1024 * 1024


class Backend:
    """One ready replica as the router sees it; ``outstanding`` is what the controller drains on."""

    def __init__(self, id: str, host: str, port: int, version: str = "") -> None:
        self.id, self.host, self.port = id, host, port
        self.version = version  # the model version it serves, sent back as x-cnai-model-version
        self.outstanding = 0
        self.suspect_until = 0.0
        self.pool = UpstreamPool(host, port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Backend({self.id!r}, {self.url}, outstanding={self.outstanding})"


class TrafficSplit:
    """Deterministic weighted choice between two targets (an error-diffusion counter).

    Each request adds ``percent`` to an accumulator; when it reaches 100 the request goes to the
    canary and 100 is taken off. Over any n requests the canary gets ``floor(n x percent / 100)``
    or one more: exact shares with no randomness to make a test flaky.
    """

    def __init__(self, percent: float = 0.0) -> None:
        self.percent = percent
        self._acc = 0.0

    def next_is_canary(self) -> bool:
        self._acc += self.percent
        if self._acc >= 100.0:
            self._acc -= 100.0
            return True
        return False


class _NoReplica(Exception):
    pass


class Router:
    def __init__(
        self,
        deployment: str,
        metrics: DeployMetrics | None = None,
        *,
        on_demand: Callable[[], None] = lambda: None,
        activation_timeout_s: float = 60.0,
        request_timeout_s: float = 120.0,
        max_retries: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deployment = deployment
        self.stats = {PRIMARY: TargetStats(clock), CANARY: TargetStats(clock)}
        self.held = 0
        self._clock = clock
        self._metrics = metrics
        self._on_demand = on_demand
        self._activation_timeout_s = activation_timeout_s
        self._max_retries = max_retries
        self._pools: dict[str, list[Backend]] = {PRIMARY: [], CANARY: []}
        self._split = TrafficSplit()
        self._changed = asyncio.Event()  # set (and replaced) whenever the replica set changes
        self._closed = False
        self._rr = 0
        self._request_timeout_s = request_timeout_s
        self._series: dict[tuple[str, str], Any] = {}
        # The names clients may put in an OpenAI request's ``model`` field (set by the runner);
        # empty: not checked here.
        self.models: frozenset[str] = frozenset()

    # ---- driven by the controller -------------------------------------------------------------
    def set_backends(self, primary: Sequence[Backend], canary: Sequence[Backend], canary_percent: float) -> None:
        self._pools = {PRIMARY: list(primary), CANARY: list(canary)}
        if canary_percent != self._split.percent:
            self._split = TrafficSplit(canary_percent)
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return self.stats[PRIMARY].in_flight + self.stats[CANARY].in_flight + self.held

    async def close(self) -> None:
        self._closed = True
        self._changed.set()  # wake held requests; they answer 503
        for pool in self._pools.values():
            for backend in pool:
                backend.pool.close()

    # ---- choosing ---------------------------------------------------------------------------------
    def _choose(self, want: str, exclude: set[Backend]) -> tuple[str, Backend] | None:
        order = (want, CANARY if want == PRIMARY else PRIMARY)  # fall back to the other target
        now = self._clock()
        for relaxed in (False, True):  # first skip suspect replicas, then accept them over nothing
            for target in order:
                best = self._least_outstanding(self._pools[target], exclude, now, relaxed)
                if best is not None:
                    return target, best
        return None

    def _least_outstanding(
        self, pool: list[Backend], exclude: set[Backend], now: float, relaxed: bool
    ) -> Backend | None:
        n = len(pool)
        if n == 0:
            return None
        self._rr = (self._rr + 1) % n
        best: Backend | None = None
        for i in range(n):
            backend = pool[(self._rr + i) % n]
            if backend in exclude or (not relaxed and backend.suspect_until > now):
                continue
            if best is None or backend.outstanding < best.outstanding:
                best = backend
        return best

    async def _acquire(self, want: str, exclude: set[Backend]) -> tuple[str, Backend]:
        choice = self._choose(want, exclude)
        if choice is not None:
            return choice
        # Activator: no replica (scaled to zero, starting, or all tried): hold the request until the
        # controller changes the replica set, or give up after the activation timeout.
        deadline = self._clock() + self._activation_timeout_s
        self.held += 1
        self._gauge_held()
        try:
            while not self._closed:
                self._on_demand()
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise _NoReplica(f"no replica became ready within {self._activation_timeout_s:g} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
                choice = self._choose(want, exclude)
                if choice is not None:
                    return choice
            raise _NoReplica("router is stopping")
        finally:
            self.held -= 1
            self._gauge_held()

    def _gauge_held(self) -> None:
        if self._metrics is not None:
            self._metrics.held.labels(self.deployment).set(self.held)

    # ---- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        openai = scope["path"].startswith("/v1/")
        body = await _read_body(receive)
        if body is None:
            _, headers, content, _ = _error(413, f"Request body exceeds {MAX_BODY_BYTES} bytes", PRIMARY, openai)
            await _send(send, 413, headers, content)
            return
        started = self._clock()
        if openai:
            await self._openai(scope, body, receive, send, started)
            return
        status, headers, answer, target, _ = await self._forward(scope, body)
        assert isinstance(answer, bytes)  # only OpenAI routes stream
        await _send(send, status, headers, answer)
        self._observe(target, status, self._clock() - started)

    async def _openai(self, scope: Scope, body: bytes, receive: Receive, send: Send, started: float) -> None:
        unknown = self._unknown_model(scope, body)
        if unknown is not None:
            served = ", ".join(sorted(self.models))
            message = f"The model {unknown!r} is not served by deployment {self.deployment} (it serves {served})"
            await _send(send, 404, _JSON, error_body(message, "invalid_request_error", "model", "model_not_found"))
            return
        gone: asyncio.Future[None] = asyncio.ensure_future(_disconnected(receive))
        try:
            status, headers, content, target, finish = await self._forward(scope, body, gone)
            if status == CLIENT_GONE:
                self._observe(target, status, self._clock() - started)
                return
            if isinstance(content, StreamedBody):
                assert finish is not None
                await send({"type": "http.response.start", "status": status, "headers": headers})
                status = 500  # unless the relay ends: a router stopping mid-stream still frees the replica
                try:
                    status = await self._relay(content, send, gone)
                finally:
                    finish(status >= 500)
            else:
                await _send(send, status, headers, content)
            self._observe(target, status, self._clock() - started)
        finally:
            gone.cancel()

    def _unknown_model(self, scope: Scope, body: bytes) -> str | None:
        """The ``model`` a POST names when this deployment does not serve it (else None; a body
        that is not JSON goes on to the replica, which answers OpenAI's 400)."""
        if scope["method"] != "POST" or not self.models or not body:
            return None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        model = doc.get("model") if isinstance(doc, dict) else None
        return model if isinstance(model, str) and model not in self.models else None

    async def _relay(self, stream: StreamedBody, send: Send, gone: asyncio.Future[None]) -> int:
        """Send a streamed answer on as it arrives; the status it ended with (499: the client left)."""

        def client_left(_: object) -> None:
            stream.close()  # the connection to the replica closes: the loop below ends, the replica cancels

        gone.add_done_callback(client_left)
        last = b""
        try:
            async for piece in stream:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                last = (last + piece)[-32:]  # the stream's end, even when [DONE] comes split across reads
        except UpstreamError as exc:
            if gone.done():
                return CLIENT_GONE
            # Headers are out: end with an error event, never a clean end that looks complete.
            event = error_body(f"the replica's stream broke: {exc}", "server_error")
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"data: " + event + b"\n\n"})
            return 502
        finally:
            gone.remove_done_callback(client_left)
            stream.close()
        if gone.done():
            return CLIENT_GONE
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        # A replica whose generation failed mid-stream ends it with an error event and no [DONE]
        # (its own status was 500): counted as a failure for the canary judge and the metrics.
        return 200 if last.rstrip().endswith(b"[DONE]") else 500

    async def _forward(
        self, scope: Scope, body: bytes, gone: asyncio.Future[None] | None = None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes | StreamedBody, str, Callable[[bool], None] | None]:
        """The replica's answer. With ``gone`` (OpenAI routes), an SSE answer comes back as a stream
        with a ``finish(failed)`` to call when it ends, and a client that leaves first gives status
        ``CLIENT_GONE`` (the request to the replica is abandoned, its connection closed)."""
        openai = gone is not None
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target_path = path + b"?" + query if query else path
        headers = [(k, v) for k, v in scope["headers"] if k not in _HOP_BY_HOP]
        method = "GET" if scope["method"] == "HEAD" else scope["method"]  # the body is dropped below
        tried: set[Backend] = set()
        last_error = "no replica"
        target = want = CANARY if self._pools[CANARY] and self._split.next_is_canary() else PRIMARY
        for attempt in range(self._max_retries + 1):
            try:
                target, backend = await self._acquire(want, tried)
            except _NoReplica as exc:
                last_error = f"{exc} (last error: {last_error})" if tried else str(exc)
                break
            stats = self.stats[target]
            stats.begin()
            backend.outstanding += 1
            t0 = self._clock()
            streamed = False
            try:
                call = backend.pool.exchange(method, target_path, headers, body, self._request_timeout_s, stream=openai)
                status, out, content = await (call if gone is None else _unless_gone(call, gone))
                streamed = isinstance(content, StreamedBody)
            except _Gone:
                stats.cancel()
                return CLIENT_GONE, [], b"", target, None
            except UpstreamError as exc:
                if not exc.retryable:  # a timeout: the replica may still be working on it
                    stats.end(self._clock() - t0, failed=True)
                    return (*_error(504, f"replica {backend.id} did not answer: {exc}", target, openai), None)
                stats.cancel()
                backend.suspect_until = self._clock() + SUSPECT_FOR_S
                tried.add(backend)
                last_error = f"replica {backend.id}: {exc}"
                if self._metrics is not None and attempt < self._max_retries:
                    self._metrics.retries.labels(self.deployment).inc()
                continue
            finally:
                if not streamed:
                    backend.outstanding -= 1
            out = [(k, v) for k, v in out if k.lower() not in _HOP_BY_HOP]
            out.append((b"x-cnai-target", target.encode()))
            if backend.version:
                out.append((b"x-cnai-model-version", backend.version.encode()))
            if streamed:
                return status, out, content, target, _finisher(stats, backend, t0, self._clock)
            stats.end(self._clock() - t0, failed=status >= 500)
            assert isinstance(content, bytes)
            if scope["method"] == "HEAD":
                content = b""
            out.append((b"content-length", str(len(content)).encode()))
            return status, out, content, target, None
        return (*_error(503, f"Deployment {self.deployment} is unavailable: {last_error}", target, openai), None)

    def _observe(self, target: str, status: int, seconds: float) -> None:
        if self._metrics is None:
            return
        key = (target, str(status))
        child = self._series.get(key)
        if child is None:
            child = self._series[key] = self._metrics.requests.labels(self.deployment, target, str(status))
        child.inc()
        if status < 500:
            self._metrics.latency.labels(self.deployment, target).observe(seconds)


_JSON = [(b"content-type", b"application/json")]
CLIENT_GONE = 499  # nginx's code for "the client closed the connection before the answer"


def _error(
    status: int, message: str, target: str, openai: bool = False
) -> tuple[int, list[tuple[bytes, bytes]], bytes, str]:
    if openai:
        body = error_body(message, "server_error" if status >= 500 else "invalid_request_error")
    else:
        body = orjson.dumps({"error": message})
    return status, [*_JSON, (b"content-length", str(len(body)).encode())], body, target


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _finisher(stats: TargetStats, backend: Backend, t0: float, clock: Callable[[], float]) -> Callable[[bool], None]:
    """What ends a streamed request's bookkeeping: its latency is the whole stream's."""

    def finish(failed: bool) -> None:
        backend.outstanding -= 1
        stats.end(clock() - t0, failed=failed)

    return finish


class _Gone(Exception):
    """The client disconnected before the replica's answer came."""


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (the body has been read: nothing else can arrive)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _unless_gone(call: Awaitable[Any], gone: asyncio.Future[None]) -> Any:
    """``await call``, abandoned (cancelled, raising :class:`_Gone`) when ``gone`` completes first."""
    task = asyncio.ensure_future(call)

    def abandon(_: object) -> None:
        task.cancel()

    gone.add_done_callback(abandon)
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if gone.done() and (current is None or not current.cancelling()):
            raise _Gone from None
        raise
    finally:
        gone.remove_done_callback(abandon)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port); raises Unavailable when taken."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it a response written in two parts waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Unavailable(f"Cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(4096)
    sock.setblocking(False)
    return sock


class RouterServer:
    """Serves a :class:`Router` on a socket inside the *current* event loop.

    ``uvicorn.Server.serve()`` would install signal handlers and exit the process when a port is
    taken, both wrong inside the control plane; its ``startup``/``main_loop``/``shutdown`` steps
    are used instead, on a socket bound here so a taken port is an ordinary error.
    """

    def __init__(self, router: Router, host: str, port: int, *, limits: TransportLimits | None = None) -> None:
        self.router = router
        self._sock = bind(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        # The same head/body deadlines and head size limit as cnai's servers (cnai.http_transport).
        config = uvicorn.Config(
            router,
            lifespan="off",
            http=http_protocol(limits or TransportLimits()),  # type: ignore[arg-type]
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
        )
        config.load()
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await self._server.startup(sockets=[self._sock])
        self._task = asyncio.create_task(self._server.main_loop(), name=f"router-{self.router.deployment}")

    async def stop(self) -> None:
        if self._task is None:
            self._sock.close()
            return
        self._server.should_exit = True
        await self.router.close()
        await self._task
        self._task = None
        await self._server.shutdown(sockets=[self._sock])
        self._sock.close()
