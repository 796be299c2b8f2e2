"""The model server's ASGI application: routing, bodies, errors and logging, nothing else.

Plain ASGI rather than a framework, because the hot path is measured against a bare Starlette
endpoint and every layer between the socket and ``predict`` costs throughput. Routes:

- OIP v2: ``GET /v2``, ``/v2/health/{live,ready}``, ``/v2/models/{m}[/versions/{v}]`` (metadata),
  ``…/ready``, ``POST …/infer``; repository extension ``POST /v2/repository/index``,
  ``/v2/repository/models/{m}/{load,unload}``.
- MLflow scoring: ``POST /invocations`` (the first model), ``POST /models/{m}/invocations``,
  ``GET /ping``, ``/health``, ``/version``.
- ``GET /metrics`` (Prometheus).
- OpenAI: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/models`` for
  GGUF and sentence-transformers models, handled by :mod:`cnai.serving.openai_app`.

Errors are mapped once, in ``_error``: cnai's ``InvalidArgument`` → 400 (``PayloadTooLarge`` → 413),
``NotFound`` → 404, ``Unavailable`` → 503 (also a model with too many hung predicts),
``PredictTimeout`` → 504, ``BadModelOutput`` (wrong row count) → 500 for its whole batch, anything
else (a model whose predict raises) → 500 for that request only; 5xx are logged with the request
id. Bodies are ``{"error": "..."}`` as OIP specifies;
``/invocations`` adds MLflow's ``error_code`` and ``message``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from cnai import __version__
from cnai.errors import CnaiError, InvalidArgument, InvalidState, NotFound, PayloadTooLarge, Unavailable
from cnai.serving import inputs as tensor_inputs
from cnai.serving.guard import ServeGuard
from cnai.serving.ids import new_id
from cnai.serving.inference_log import InferenceLogger
from cnai.serving.metadata import model_metadata
from cnai.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from cnai.serving.metrics import ServingMetrics
from cnai.serving.mlflow_scoring import parse_invocation, predictions_body
from cnai.serving.openai_app import LLMOptions, OpenAIRoutes, is_generative
from cnai.serving.predictor import BadModelOutput, PredictTimeout
from cnai.serving.protocol.codec import decode_request, encode_response, tensor_from_array
from cnai.serving.repository import LoadedModel, ModelRepository
from cnai.serving.resolve import fetch_generative, is_registry_uri, parse_model_arg
from cnai.serving.settings import ServeSettings

log = logging.getLogger("cnai.serving")
access_log = logging.getLogger("cnai.serving.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = b"application/json"
_STATUS = {
    InvalidArgument: 400,
    PayloadTooLarge: 413,
    NotFound: 404,
    InvalidState: 409,
    Unavailable: 503,
    PredictTimeout: 504,
    BadModelOutput: 500,
}


class _Response(Exception):
    """Raised by routing to answer with a ready status/body (e.g. 405)."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


class ServingApp:
    def __init__(
        self,
        settings: ServeSettings,
        *,
        repository: ModelRepository | None = None,
        inference_logger: InferenceLogger | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = ServingMetrics()
        specs = [parse_model_arg(m) for m in settings.models]
        # GGUF files and sentence-transformers directories go to the OpenAI routes (/v1); the rest
        # are MLflow models in the repository.
        generative = [s for s in specs if is_generative(s.uri)]
        self.repository = repository or ModelRepository(
            [s for s in specs if s not in generative], settings, self.metrics
        )
        self.inference_logger = inference_logger
        self.ready = False
        # A plain int read at scrape time: a Gauge's inc()/dec() take a lock twice per request.
        self._in_flight = 0
        self.metrics.in_flight.set_function(lambda: self._in_flight)
        self._request_counters: dict[tuple[str, str, str, str], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}
        self._tracer = _tracer(settings)
        self.openai = OpenAIRoutes(
            generative,
            self.metrics.llm,
            options=LLMOptions(
                settings.llm_slots,
                settings.llm_context,
                settings.llm_max_waiting,
                settings.llm_threads,
                settings.llm_capture_content,
            ),
            tracer=self._tracer,
        )

    # ---- lifespan -------------------------------------------------------------------------
    async def startup(self) -> None:
        if self.inference_logger is None and self.settings.inference_log:
            from cnai.events import bus_from_url

            self.settings.home.mkdir(parents=True, exist_ok=True)
            self.inference_logger = InferenceLogger(
                bus_from_url(self.settings.event_bus),
                self.metrics,
                sample_rate=self.settings.log_sample_rate,
                queue_size=self.settings.log_queue_size,
            )
        if self.inference_logger is not None:
            await self.inference_logger.start()
        self.openai.inference_logger = self.inference_logger
        if not self.settings.lazy:
            await self._claim_generative()
        await self.repository.start()
        await self.openai.start()
        _freeze_heap()
        self.ready = True

    async def _claim_generative(self) -> None:
        """Registry versions holding a GGUF or sentence-transformers model go to the OpenAI routes,
        served under the same name with their version (a version's kind shows once its files are
        downloaded; the repository would download them at its start anyway)."""
        for name, entry in list(self.repository.entries.items()):
            if not is_registry_uri(entry.spec.uri):
                continue
            cache = self.settings.home / "serving-cache"
            found = await asyncio.to_thread(fetch_generative, entry.spec, self.settings.tracking_uri, cache)
            if found is not None:
                spec, version = found
                del self.repository.entries[name]  # not loaded yet: nothing else holds it
                self.openai.add(spec, version)
                log.info("%s (%s, version %s) is served on the OpenAI routes", name, entry.spec.uri, version)

    async def shutdown(self) -> None:
        self.ready = False
        await self.repository.close()
        await self.openai.close()
        if self.inference_logger is not None:
            await self.inference_logger.close()

    # ---- ASGI -------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"].startswith("/v1/"):
                await self.openai(scope, receive, send)  # streams: it sends its own answers
                return
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("model server failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        self._in_flight += 1
        headers = _headers(scope)
        request_id = headers.get(b"x-request-id")
        ctx = _Ctx(request_id.decode("latin-1") if request_id else None, headers)
        status = 500
        span = _start_span(self._tracer, scope, headers) if self._tracer is not None else None
        try:
            status, body, extra = await self._route(scope, receive, ctx)
        except _Response as resp:
            status, body, extra = resp.status, resp.body, []
        except Exception as exc:
            status, body = self._error(exc, ctx, scope)
            extra = []
        finally:
            self._in_flight -= 1
        out = [(b"content-type", ctx.content_type), (b"content-length", str(len(body)).encode()), *extra]
        if ctx.request_id is not None:
            out.append((b"x-request-id", ctx.request_id.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})
        if span is not None:
            _end_span(span, status, ctx)
        if ctx.model is not None:
            self._observe(ctx, status, time.perf_counter() - start)
        if self.settings.access_log:
            access_log.info(
                orjson.dumps(
                    {
                        "ts": time.time(),
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                        "request_id": ctx.request_id,
                        "model": ctx.model,
                    }
                ).decode()
            )

    def _observe(self, ctx: _Ctx, status: int, seconds: float) -> None:
        model, version = ctx.model or "", ctx.version or ""
        key = (model, version, ctx.protocol, str(status))
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.metrics.requests.labels(*key)
        counter.inc()
        if status >= 400:
            self.metrics.errors.labels(model, str(status)).inc()
            return
        lat = self._latency.get((model, version))
        if lat is None:
            lat = self._latency[(model, version)] = self.metrics.latency.labels(model, version)
        lat.observe(seconds)

    def _error(self, exc: BaseException, ctx: _Ctx, scope: Scope) -> tuple[int, bytes]:
        ctx.content_type = _JSON
        if isinstance(exc, CnaiError):
            status = next((s for cls, s in _STATUS.items() if type(exc) is cls), None)
            if status is None:
                status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
            message = exc.message
            code = exc.code
            if status >= 500:
                log.error("request %s to %s failed: %s", ctx.request_id, scope.get("path"), message)
        else:
            status, code = 500, "INTERNAL_ERROR"
            message = f"{type(exc).__name__}: {exc}"
            log.error("request %s to %s failed: %s", ctx.request_id, scope.get("path"), message, exc_info=exc)
        doc: dict[str, Any] = {"error": message}
        if ctx.protocol == "mlflow":
            doc["error_code"] = "BAD_REQUEST" if status == 400 else code
            doc["message"] = message
        return status, orjson.dumps(doc)

    # ---- routing ----------------------------------------------------------------------------
    async def _route(self, scope: Scope, receive: Receive, ctx: _Ctx) -> tuple[int, bytes, list[Any]]:
        path: str = scope["path"]
        method: str = scope["method"]
        parts = path.strip("/").split("/")
        head = parts[0]
        if head == "v2":
            return await self._route_v2(parts[1:], method, receive, ctx)
        if head == "invocations" and len(parts) == 1:
            _allow(method, "POST")
            name = self.repository.default_name
            if name is None:
                raise NotFound("No model is served here")
            return await self._invocations(name, receive, ctx)
        if head == "models" and len(parts) == 3 and parts[2] == "invocations":
            _allow(method, "POST")
            return await self._invocations(parts[1], receive, ctx)
        if head in ("ping", "health") and len(parts) == 1:
            _allow(method, "GET")
            return 200, b"\n", []
        if head == "version" and len(parts) == 1:
            ctx.content_type = b"text/plain"
            return 200, __version__.encode(), []
        if head == "metrics" and len(parts) == 1:
            ctx.content_type = METRICS_CONTENT_TYPE.encode()
            return 200, self.metrics.render(), []
        raise NotFound(f"No route {method} {path}")

    async def _route_v2(
        self, parts: list[str], method: str, receive: Receive, ctx: _Ctx
    ) -> tuple[int, bytes, list[Any]]:
        n = len(parts)
        if n == 0 or parts == [""]:
            return (
                200,
                orjson.dumps(
                    {"name": "cnai", "version": __version__, "extensions": ["binary_tensor_data", "model_repository"]}
                ),
                [],
            )
        if parts[0] == "health" and n == 2:
            if parts[1] == "live":
                return 200, orjson.dumps({"live": True}), []
            if parts[1] == "ready":
                return (200 if self.ready else 503), orjson.dumps({"ready": self.ready}), []
        if parts[0] == "models" and n >= 2:
            name, version, rest = parts[1], None, parts[2:]
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            if not rest:
                return 200, orjson.dumps(await self._metadata(name, version)), []
            if rest == ["ready"]:
                ready = self._is_ready(name, version)
                return (200 if ready else 400), orjson.dumps({"name": name, "ready": ready}), []
            if rest == ["infer"]:
                _allow(method, "POST")
                return await self._infer(name, version, receive, ctx)
        if parts[0] == "repository":
            _allow(method, "POST")
            if parts[1:] == ["index"]:
                await _read_body(receive, self.settings.max_body_bytes)
                return 200, orjson.dumps(self.repository.index()), []
            if n == 4 and parts[1] == "models" and parts[3] in ("load", "unload"):
                await _read_body(receive, self.settings.max_body_bytes)
                if parts[3] == "load":
                    await self.repository.load(parts[2])
                else:
                    await self.repository.unload(parts[2])
                return 200, b"{}", []
        raise NotFound(f"No route {method} /v2/{'/'.join(parts)}")

    def _is_ready(self, name: str, version: str | None) -> bool:
        loaded = self.repository.entry(name).loaded
        return (
            loaded is not None
            and (version is None or version == loaded.version)
            and not loaded.executor.predictor.exhausted
        )

    async def _metadata(self, name: str, version: str | None) -> dict[str, Any]:
        model = await self.repository.acquire(name, version)
        try:
            return model_metadata(model)
        finally:
            model.release()

    # ---- inference ----------------------------------------------------------------------------
    async def _infer(self, name: str, version: str | None, receive: Receive, ctx: _Ctx) -> tuple[int, bytes, list[Any]]:
        ctx.protocol = "oip"
        model = await self.repository.acquire(name, version)
        ctx.model, ctx.version = model.name, model.version
        executor = model.executor
        executor.announce()
        submitted = False
        try:
            body = await _read_body(receive, self.settings.max_body_bytes)
            header_len = ctx.headers.get(b"inference-header-content-length")
            try:
                hlen = int(header_len) if header_len is not None else None
            except ValueError:
                raise InvalidArgument("Inference-Header-Content-Length must be an integer") from None
            request = decode_request(body, hlen)
            if request.id is not None and ctx.request_id is None:
                ctx.request_id = request.id
            data, rows = tensor_inputs.from_tensors(request.inputs, model.runtime)
            tensor_inputs.check_model_input(data, rows, model.runtime, model.name)
            wanted = _requested_outputs(request, model)
            submitted = True
            t0 = time.perf_counter()
            result = await executor.submit(data, rows, tuple([name for name, _ in wanted]))
        finally:
            if not submitted:
                executor.withdraw()
            model.release()
        outputs = [(tensor_from_array(n, result[n]), binary) for n, binary in wanted]
        body, header_length = encode_response(model.name, model.version, request.id, outputs)
        extra: list[Any] = []
        if header_length is not None:
            ctx.content_type = b"application/octet-stream"
            extra.append((b"inference-header-content-length", str(header_length).encode()))
        self._log_inference(ctx, model, data, result, time.perf_counter() - t0)
        return 200, body, extra

    async def _invocations(self, name: str, receive: Receive, ctx: _Ctx) -> tuple[int, bytes, list[Any]]:
        ctx.protocol = "mlflow"
        model = await self.repository.acquire(name)
        ctx.model, ctx.version = model.name, model.version
        executor = model.executor
        executor.announce()
        submitted = False
        try:
            body = await _read_body(receive, self.settings.max_body_bytes)
            content_type = (ctx.headers.get(b"content-type") or b"application/json").decode("latin-1").lower()
            data, rows = parse_invocation(body, content_type, model.runtime)
            tensor_inputs.check_model_input(data, rows, model.runtime, model.name)
            submitted = True
            t0 = time.perf_counter()
            result = await executor.submit(data, rows, ("predict",))
        finally:
            if not submitted:
                executor.withdraw()
            model.release()
        self._log_inference(ctx, model, data, result, time.perf_counter() - t0)
        return 200, predictions_body(result["predict"]), []

    def _log_inference(self, ctx: _Ctx, model: LoadedModel, data: Any, result: Any, seconds: float) -> None:
        if self.inference_logger is None:
            return
        if ctx.request_id is None:
            ctx.request_id = new_id()
        self.inference_logger.record(
            model=model.name,
            version=model.version,
            request_id=ctx.request_id,
            protocol=ctx.protocol,
            inputs=data,
            columns=model.runtime.signature.column_names or None,
            outputs=result,
            latency_s=seconds,
        )


class _Ctx:
    __slots__ = ("content_type", "headers", "model", "protocol", "request_id", "version")

    def __init__(self, request_id: str | None, headers: dict[bytes, bytes]) -> None:
        self.request_id = request_id
        self.headers = headers
        self.content_type = _JSON
        self.model: str | None = None
        self.version: str | None = None
        self.protocol = "http"


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise _Response(405, orjson.dumps({"error": f"Method {method} not allowed; use {allowed}"}))


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _requested_outputs(request: Any, model: LoadedModel) -> list[tuple[str, bool]]:
    available = model.runtime.outputs
    if request.outputs is None:
        return [(available[0], request.binary_output)]
    wanted = []
    for out in request.outputs:
        if out.name not in available:
            raise InvalidArgument(f"Model {model.name!r} has no output {out.name!r}; it has {list(available)}")
        wanted.append((out.name, out.binary or request.binary_output))
    return wanted


def _freeze_heap() -> None:
    """Move everything alive now (the imported libraries, the loaded models) out of the collector's reach.

    These objects live as long as the process, yet every full collection walked all of them: with
    mlflow, pandas and sklearn loaded that is a stall of tens of milliseconds on the event loop,
    and under load it was the whole p99 (66 ms → 14 ms with batching at 32 concurrent requests).
    Objects created later (requests, models loaded afterwards) are collected as before.
    """
    gc.collect()
    gc.freeze()


def _start_span(tracer: Any, scope: Scope, headers: dict[bytes, bytes]) -> Any:
    """A server span for one request, child of the caller's trace when it sent ``traceparent``."""
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()}
    attributes = {"http.request.method": scope["method"], "url.path": scope["path"]}
    name = f"{scope['method']} {scope['path']}"
    return tracer.start_span(name, context=extract(carrier), kind=SpanKind.SERVER, attributes=attributes)


def _end_span(span: Any, status: int, ctx: _Ctx) -> None:
    span.set_attribute("http.response.status_code", status)
    if ctx.model is not None:
        span.set_attribute("cnai.model", ctx.model)
    if ctx.version is not None:
        span.set_attribute("cnai.model_version", ctx.version)
    if ctx.request_id is not None:
        span.set_attribute("cnai.request_id", ctx.request_id)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))
    span.end()


def _tracer(settings: ServeSettings) -> Any:
    """An OpenTelemetry tracer when an OTLP endpoint is configured and the SDK is installed."""
    if not settings.otel_endpoint:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-sdk is not installed; no spans")
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": "cnai-serve"}))
    # The endpoint may come from CNAI_SERVE_OTEL_ENDPOINT, which the exporter does not read itself.
    exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("cnai.serving")


def create_app(settings: ServeSettings) -> ServeGuard:
    """The model server behind its gate (Host check, and the token when one is set)."""
    return ServeGuard(ServingApp(settings), settings)
