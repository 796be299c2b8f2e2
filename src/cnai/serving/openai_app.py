"""The OpenAI-compatible routes of ``cnai serve``: ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings``, ``/v1/models[/{id}]``.

Plain ASGI like the rest of the server (it sits behind the same ``ServeGuard``: token, Host and
Origin checks apply to every ``/v1`` route). Streams are Server-Sent Events ending in
``data: [DONE]``; with ``stream_options.include_usage`` a last chunk with ``choices: []`` carries
the usage. A client that disconnects (streaming or not) cancels its generation and frees its slot.
An answer with status 200 is always complete: a generation that fails before its first byte is an
error status, and one that fails mid-stream ends with an error event and no ``[DONE]``.

Every request naming a served model becomes an inference event (``io.cnai.inference.v1``,
``protocol: openai``) with its status, latency, time to first token, token counts and finish
reason, failures included, so a ``kind: Monitor`` can watch error rate, latency and token use.
Message content (prompt, completion, embedding inputs) is in the event only when content capture
is on (``--llm-capture-content``), as the GenAI conventions ask of spans too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnai.errors import CnaiError, InvalidArgument, Unavailable
from cnai.serving.generative import generative_path, is_llm
from cnai.serving.ids import new_id
from cnai.serving.inference_log import InferenceLogger
from cnai.serving.metrics import LLMMetrics
from cnai.serving.protocol import openai as oa
from cnai.serving.resolve import LOCAL_VERSION, ModelSpec
from cnai.serving.runtimes.embeddings import SentenceEmbedder
from cnai.serving.runtimes.llm import (
    ContextExceeded,
    Failed,
    Finished,
    Generation,
    LlamaEngine,
    QueueFull,
    SamplingParams,
)

log = logging.getLogger("cnai.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_DISCONNECTED = Failed("client disconnected")


def is_generative(uri: str) -> bool:
    """Whether ``cnai serve`` hands this MODEL argument to the OpenAI routes (a GGUF file or a
    sentence-transformers model, see :mod:`cnai.serving.generative`) rather than to the MLflow
    model repository. Registry URIs are decided once their files are downloaded."""
    return generative_path(_local(uri)) is not None


def _local(uri: str) -> Path:
    return Path(uri.removeprefix("file://")).expanduser()


@dataclass(frozen=True, slots=True)
class LLMOptions:
    slots: int = 8
    ctx_per_slot: int = 2048
    max_waiting: int = 32
    threads: int = 0
    capture_content: bool = False  # message content in inference events


@dataclass(slots=True)
class _Outcome:
    """What one request's inference event reports beyond status and latency, filled in as it runs."""

    stream: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    inputs: dict[str, list[Any]] = field(default_factory=dict)  # content: only with capture on
    parts: list[str] | None = None  # the completion's text pieces, collected only with capture on


# The request being answered, for the helpers deep in a generation that learn its token counts:
# one ASGI call is one task, so a context variable follows it without threading it through.
_OUTCOME: ContextVar[_Outcome | None] = ContextVar("cnai_openai_outcome", default=None)


class _ChatTemplate:
    """The GGUF's own chat template (Jinja, as written by the model's authors), rendered sandboxed."""

    def __init__(self, source: str, bos: str, eos: str) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

        def raise_exception(message: str) -> None:
            raise oa.bad(f"The model's chat template refused the messages: {message}", "messages")

        env.globals["raise_exception"] = raise_exception
        self.template = env.from_string(source)
        self.bos, self.eos = bos, eos

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.template.render(
            messages=messages, add_generation_prompt=True, bos_token=self.bos, eos_token=self.eos
        )


class OpenAIRoutes:
    def __init__(self, specs: list[ModelSpec], metrics: LLMMetrics, *, options: LLMOptions, tracer: Any = None) -> None:
        self.specs = specs
        self.metrics = metrics
        self.options = options
        self.tracer = tracer
        self.llms: dict[str, LlamaEngine] = {}
        self.templates: dict[str, _ChatTemplate | None] = {}
        self.embedders: dict[str, SentenceEmbedder] = {}
        self.versions: dict[str, str] = {s.name: LOCAL_VERSION for s in specs}
        self.inference_logger: InferenceLogger | None = None  # set by the server once its log is started
        self.created = oa.now()

    def add(self, spec: ModelSpec, version: str) -> None:
        """Serve one more model (a registry version found to be generative once downloaded); before start()."""
        self.specs.append(spec)
        self.versions[spec.name] = version

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    async def start(self) -> None:
        for spec in self.specs:
            try:
                await asyncio.to_thread(self._load, spec)
            except CnaiError:
                raise
            except Exception as exc:  # one line at startup, like the repository's models
                log.debug("loading model %s failed", spec.name, exc_info=True)
                raise Unavailable(f"Model {spec.name!r} failed to load from {spec.uri}: {exc}") from exc

    def _load(self, spec: ModelSpec) -> None:
        path = generative_path(_local(spec.uri)) or _local(spec.uri)
        if is_llm(path):
            try:
                import llama_cpp  # noqa: F401
            except ImportError:
                raise InvalidArgument(
                    f"{path} is a GGUF model, and llama-cpp-python is not installed: pip install 'cnai[llm]'"
                ) from None
            o = self.options
            engine = LlamaEngine(
                path,
                slots=o.slots,
                ctx_per_slot=o.ctx_per_slot,
                max_waiting=o.max_waiting,
                threads=o.threads or None,
                on_step=self.metrics.step_sequences.labels(spec.name).observe,
            )
            self.llms[spec.name] = engine
            source = engine.chat_template
            self.templates[spec.name] = _ChatTemplate(source, engine.bos_text, engine.eos_text) if source else None
            self.metrics.running.labels(spec.name).set_function(lambda: engine.running)
            self.metrics.waiting.labels(spec.name).set_function(lambda: engine.waiting)
        else:
            self.embedders[spec.name] = SentenceEmbedder(
                path, on_batch=self.metrics.embedding_batch.labels(spec.name).observe
            )
        log.info("loaded %s as %s", spec.name, "an LLM" if is_llm(path) else "an embedding model")

    async def close(self) -> None:
        for engine in self.llms.values():
            await asyncio.to_thread(engine.close)
        for embedder in self.embedders.values():
            embedder.close()

    # ---- ASGI -----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        path, method = scope["path"].rstrip("/"), scope["method"]
        op, model, status = "other", "", 500
        outcome = _Outcome(parts=[] if self.options.capture_content else None)
        token = _OUTCOME.set(outcome)
        try:
            if path == "/v1/models":
                _allow(method, "GET")
                status = await _json(send, 200, {"object": "list", "data": [self._card(n) for n in self.names]})
                return
            if path.startswith("/v1/models/"):
                _allow(method, "GET")
                name = path.removeprefix("/v1/models/")
                if name not in self.names:
                    raise _not_found(name)
                status = await _json(send, 200, self._card(name))
                return
            routes = {
                "/v1/chat/completions": "chat",
                "/v1/completions": "text_completion",
                "/v1/embeddings": "embeddings",
            }
            op = routes.get(path, "other")
            if op == "other":
                raise oa.OpenAIError(404, f"No route {method} {path}", code="not_found")
            _allow(method, "POST")
            doc = oa.parse_json(await _read_body(receive))
            named = doc.get("model")
            model = named if isinstance(named, str) else ""  # known before validation: its 400s are counted too
            if op == "embeddings":
                req = oa.parse_embeddings(doc)
                model = req.model
                status = await self._embeddings(req, send, scope)
            else:
                gen_req = oa.parse_generation(doc, chat=op == "chat")
                model = gen_req.model
                status = await self._generate(gen_req, op, scope, receive, send, start)
        except oa.OpenAIError as err:
            status = err.status
            headers = [(b"retry-after", b"1")] if status == 429 else []
            await _send(send, status, err.body(), headers)
        except Exception as exc:
            status = 500
            log.error("OpenAI request to %s failed: %s", path, exc, exc_info=exc)
            await _send(send, 500, oa.error_body(f"{type(exc).__name__}: {exc}", "server_error"))
        finally:
            _OUTCOME.reset(token)
            if model and (model in self.llms or model in self.embedders):
                seconds = time.perf_counter() - start
                self.metrics.requests.labels(model, op, str(status)).inc()
                if status < 400:
                    self.metrics.duration.labels(model, op).observe(seconds)
                if self.inference_logger is not None:
                    self._log_event(model, op, status, seconds, scope, outcome)

    def _log_event(self, model: str, op: str, status: int, seconds: float, scope: Scope, o: _Outcome) -> None:
        """The request's inference event: never message content unless capture is on."""
        assert self.inference_logger is not None
        request_id = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        data: dict[str, Any] = {
            "model": model,
            "version": self.versions.get(model, LOCAL_VERSION),
            "request_id": request_id or new_id(),
            "protocol": "openai",
            "operation": op,
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
            "stream": o.stream,
            "inputs": o.inputs,
            "outputs": {"completion": ["".join(o.parts)]} if o.parts and o.completion_tokens is not None else {},
        }
        if o.prompt_tokens is not None:
            usage = {"prompt_tokens": o.prompt_tokens}
            if o.completion_tokens is not None:
                usage["completion_tokens"] = o.completion_tokens
            usage["total_tokens"] = o.prompt_tokens + (o.completion_tokens or 0)
            data["usage"] = usage
        if o.ttft_s is not None:
            data["ttft_ms"] = round(o.ttft_s * 1000, 3)
        if o.finish_reason is not None:
            data["finish_reason"] = o.finish_reason
        self.inference_logger.record_request(data)

    def _card(self, name: str) -> dict[str, Any]:
        return oa.model_card(name, self.created, "embeddings" if name in self.embedders else "llm")

    # ---- generation -----------------------------------------------------------------------------
    async def _generate(
        self, req: oa.GenerationRequest, op: str, scope: Scope, receive: Receive, send: Send, start: float
    ) -> int:
        engine = self.llms.get(req.model)
        if engine is None:
            if req.model in self.embedders:
                raise oa.bad(f"{req.model!r} is an embedding model: use /v1/embeddings", "model", "model_not_supported")
            raise _not_found(req.model)
        chat = op == "chat"
        outcome = _OUTCOME.get()
        if outcome is not None:
            outcome.stream = req.stream
            if self.options.capture_content:
                text = req.prompt if req.messages is None else "\n".join(m.get("content", "") for m in req.messages)
                outcome.inputs = {"prompt": [text]}
        if chat:
            template = self.templates[req.model]
            if template is None:
                raise oa.bad(f"{req.model!r} has no chat template in its GGUF: use /v1/completions", "model")
            assert req.messages is not None
            prompt = engine.tokenize(template.render(req.messages), special=False)
        else:
            assert req.prompt is not None
            prompt = engine.tokenize(req.prompt, special=True)
        room = engine.ctx_per_slot - len(prompt)
        max_tokens = min(req.max_tokens or room, room)
        params = SamplingParams(max_tokens, req.temperature, req.top_p, req.seed, req.stop)
        span = self._span(scope, op, req, max_tokens)
        try:
            gen = engine.submit(prompt, params)
        except QueueFull as exc:
            self.metrics.rejected.labels(req.model).inc()
            _end_span(span, 429)
            raise oa.OpenAIError(429, exc.message, type_="rate_limit_error", code="queue_full") from None
        except ContextExceeded as exc:
            _end_span(span, 400)
            raise oa.bad(exc.message, "messages" if chat else "prompt", "context_length_exceeded") from None
        watcher = asyncio.create_task(_watch_disconnect(receive, gen, engine))
        rid = ("chatcmpl-" if chat else "cmpl-") + new_id()
        try:
            if req.stream:
                status = await self._stream(req, gen, engine, send, rid, start, chat=chat, span=span)
            else:
                status = await self._complete(req, gen, engine, send, rid, start, chat=chat, span=span)
        finally:
            watcher.cancel()
            if gen.cancelled:
                self.metrics.cancelled.labels(req.model).inc()
        return status

    async def _complete(
        self,
        req: oa.GenerationRequest,
        gen: Generation,
        engine: LlamaEngine,
        send: Send,
        rid: str,
        start: float,
        *,
        chat: bool,
        span: Any,
    ) -> int:
        parts: list[str] = []
        first = 0.0
        while True:
            event = await gen.events.get()
            if isinstance(event, str):
                if not parts:
                    first = time.perf_counter()
                parts.append(event)
                continue
            break
        outcome = _OUTCOME.get()
        if outcome is not None and outcome.parts is not None:
            outcome.parts.extend(parts)
        if isinstance(event, Failed):
            if event is _DISCONNECTED:
                _end_span(span, 499)
                return 499  # nobody to answer
            _end_span(span, 500)
            raise oa.OpenAIError(500, event.message, type_="server_error")
        self._observe(req.model, event, first or time.perf_counter(), start)
        use = oa.usage(event.prompt_tokens, event.completion_tokens, event.cached_tokens)
        body = oa.completion_body(rid, req.model, oa.now(), "".join(parts), event.finish_reason, use, chat=chat)
        await _send(send, 200, body)
        _end_span(span, 200, event)
        return 200

    async def _stream(
        self,
        req: oa.GenerationRequest,
        gen: Generation,
        engine: LlamaEngine,
        send: Send,
        rid: str,
        start: float,
        *,
        chat: bool,
        span: Any,
    ) -> int:
        created = oa.now()
        model = req.model
        outcome = _OUTCOME.get()
        collected = outcome.parts if outcome is not None else None  # the text, with content capture only
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        opening = oa.chunk(rid, model, created, chat=True, role=True, text="") if chat else b""
        first = 0.0
        try:
            while True:
                events = [await gen.events.get()]
                while not gen.events.empty():  # send what piled up in one write
                    events.append(gen.events.get_nowait())
                out = [opening] if opening else []
                opening = b""
                final: Finished | Failed | None = None
                for event in events:
                    if isinstance(event, str):
                        if not first:
                            first = time.perf_counter()
                        out.append(oa.chunk(rid, model, created, chat=chat, text=event))
                        if collected is not None:
                            collected.append(event)
                    else:
                        final = event
                        break
                if isinstance(final, Failed):
                    if final is _DISCONNECTED:
                        _end_span(span, 499)
                        return 499
                    out.append(oa.sse_error(oa.OpenAIError(500, final.message, type_="server_error")))
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": False})
                    _end_span(span, 500)
                    return 500
                if isinstance(final, Finished):
                    self._observe(model, final, first or time.perf_counter(), start)
                    out.append(oa.chunk(rid, model, created, chat=chat, finish_reason=final.finish_reason))
                    if req.include_usage:
                        use = oa.usage(final.prompt_tokens, final.completion_tokens, final.cached_tokens)
                        out.append(oa.chunk(rid, model, created, chat=chat, use=use, no_choices=True))
                    out.append(oa.DONE)
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": False})
                    _end_span(span, 200, final)
                    return 200
                await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
        except OSError:  # the connection broke while we wrote
            engine.cancel(gen)
            _end_span(span, 499)
            return 499
        except Exception as exc:  # headers are out: end the stream with an error event, never a clean end
            log.error("stream %s failed: %s", rid, exc, exc_info=exc)
            engine.cancel(gen)
            err = oa.OpenAIError(500, f"{type(exc).__name__}: {exc}", type_="server_error")
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": oa.sse_error(err), "more_body": False})
            _end_span(span, 500)
            return 500

    def _observe(self, model: str, done: Finished, first_at: float, start: float) -> None:
        outcome = _OUTCOME.get()
        if outcome is not None:
            outcome.prompt_tokens, outcome.completion_tokens = done.prompt_tokens, done.completion_tokens
            outcome.ttft_s, outcome.finish_reason = first_at - start, done.finish_reason
        m = self.metrics
        m.ttft.labels(model).observe(first_at - start)
        if done.completion_tokens > 1:
            m.tpot.labels(model).observe(done.decode_s / (done.completion_tokens - 1))
        m.prompt_tokens.labels(model).inc(done.prompt_tokens)
        m.cached_prompt_tokens.labels(model).inc(done.cached_tokens)
        m.generation_tokens.labels(model).inc(done.completion_tokens)

    # ---- embeddings -----------------------------------------------------------------------------
    async def _embeddings(self, req: oa.EmbeddingRequest, send: Send, scope: Scope) -> int:
        embedder = self.embedders.get(req.model)
        if embedder is None:
            if req.model in self.llms:
                raise oa.bad(f"{req.model!r} is a generative model: use /v1/chat/completions", "model")
            raise _not_found(req.model)
        if req.dimensions is not None and req.dimensions != embedder.dimensions:
            raise oa.bad(
                f"{req.model!r} returns {embedder.dimensions} dimensions; it cannot shorten them", "dimensions"
            )
        span = self._span(scope, "embeddings", None, None, model=req.model)
        result = await embedder.embed(req.inputs)
        self.metrics.prompt_tokens.labels(req.model).inc(result.tokens)
        outcome = _OUTCOME.get()
        if outcome is not None:
            outcome.prompt_tokens = result.tokens
            if self.options.capture_content:
                outcome.inputs = {"input": list(req.inputs)}
        await _send(send, 200, oa.embeddings_body(req.model, result.vectors, result.tokens, as_base64=req.base64))
        if span is not None:
            span.set_attribute("gen_ai.usage.input_tokens", result.tokens)
        _end_span(span, 200)
        return 200

    # ---- tracing (OpenTelemetry GenAI semantic conventions) ----------------------------------------
    def _span(
        self, scope: Scope, op: str, req: oa.GenerationRequest | None, max_tokens: int | None, *, model: str = ""
    ) -> Any:
        """A server span, child of the caller's trace when it sent ``traceparent`` (OpenLLMetry's
        client span then has this one below it)."""
        if self.tracer is None:
            return None
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

        name = req.model if req is not None else model
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": op,
            "gen_ai.request.model": name,
            "gen_ai.response.model": name,
            "gen_ai.system": "cnai",
        }
        if req is not None:
            attributes.update({"gen_ai.request.temperature": req.temperature, "gen_ai.request.top_p": req.top_p})
            if max_tokens is not None:
                attributes["gen_ai.request.max_tokens"] = max_tokens
            if req.seed is not None:
                attributes["gen_ai.request.seed"] = req.seed
        return self.tracer.start_span(
            f"{op} {name}", context=extract(carrier), kind=SpanKind.SERVER, attributes=attributes
        )


def _end_span(span: Any, status: int, done: Finished | None = None) -> None:
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if done is not None:
        span.set_attribute("gen_ai.usage.input_tokens", done.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", done.completion_tokens)
        span.set_attribute("gen_ai.response.finish_reasons", [done.finish_reason])
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))
    span.end()


async def _watch_disconnect(receive: Receive, gen: Generation, engine: LlamaEngine) -> None:
    """Cancel the generation when the client goes away (uvicorn reports ``http.disconnect``)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            engine.cancel(gen)
            gen.events.put_nowait(_DISCONNECTED)
            return


def _not_found(name: str) -> oa.OpenAIError:
    return oa.OpenAIError(
        404, f"The model {name!r} is not served here (GET /v1/models lists them)", param="model", code="model_not_found"
    )


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise oa.OpenAIError(405, f"Method {method} not allowed; use {allowed}", code="method_not_allowed")


_MAX_BODY = 16 * 1024 * 1024


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise oa.OpenAIError(400, "The client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise oa.OpenAIError(413, f"Request body exceeds {_MAX_BODY} bytes", code="request_too_large")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, doc: Any) -> int:
    import orjson

    await _send(send, status, orjson.dumps(doc))
    return status
