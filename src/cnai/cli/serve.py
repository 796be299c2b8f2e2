"""`cnai serve`: the model server (Open Inference Protocol v2 and MLflow scoring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cnai.cli._common import console, fail, guarded


def serve(
    models: list[str] = typer.Argument(
        ...,
        help="MLflow model directory, models:/name/version, models:/name@alias, a GGUF file (an LLM on the "
        "OpenAI routes /v1), a sentence-transformers directory (/v1/embeddings), or NAME=any of these. Several allowed.",
    ),
    host: str = typer.Option(None, help="Address to bind. [default: 127.0.0.1]"),
    port: int = typer.Option(None, help="Port. [default: 8081]"),
    workers: int = typer.Option(None, min=1, max=64, help="Worker processes on one port. [default: 1]"),
    max_batch_size: int = typer.Option(None, min=1, help="Rows per batch; 1 turns batching off. [default: 64]"),
    max_batch_delay_ms: float = typer.Option(None, min=0, help="Longest wait for batch-mates. [default: 2]"),
    inline_predict_below_ms: float = typer.Option(
        None,
        min=0,
        help="Opt-in, unsafe for any model that can block: predicts whose recent time is below this run on the "
        "event loop, where no timeout can stop them. [default: 0, always in the model's thread]",
    ),
    predict_sync_wait_ms: float = typer.Option(
        None,
        min=0,
        help="For models whose recent predicts are faster than this, the server waits for the model's thread "
        "directly, up to this long, instead of through the event loop: a cheaper hand-off; slower calls fall "
        "back to the loop under the predict timeout. With batching off, requests that arrive together share "
        "one such hand-off (each still its own predict call), as many as fit in half this time. 0 turns both "
        "off (for models that release the GIL on several cores). [default: 2]",
    ),
    max_memory: str = typer.Option(None, help="Memory budget for loaded models, e.g. 2G; LRU eviction beyond it."),
    optimize: str = typer.Option(None, help="'onnx': serve scikit-learn models with ONNX Runtime when outputs match."),
    lazy: bool = typer.Option(None, "--lazy", help="Load models on first request instead of at start."),
    event_bus: str = typer.Option(
        None, help="Event bus for the inference log. [default: sqlite:///CNAI_HOME/events.db]"
    ),
    no_inference_log: bool = typer.Option(False, "--no-inference-log", help="Do not write inference events."),
    log_sample_rate: float = typer.Option(None, min=0, max=1, help="Share of requests logged. [default: 1.0]"),
    access_log: bool = typer.Option(None, "--access-log", help="Write a JSON access log line per request."),
    home: Path = typer.Option(None, help="Root for embedded defaults. [env: CNAI_HOME]"),
    log_level: str = typer.Option(None, help="debug, info, warning or error. [default: warning]"),
    predict_timeout: float = typer.Option(
        None, min=0, help="Seconds a predict may run; longer fails its requests with 504. [default: 30]"
    ),
    max_hung_predicts: int = typer.Option(
        None, min=1, help="Timed-out predicts still running before the model reports not ready. [default: 4]"
    ),
    header_timeout: float = typer.Option(None, min=0, help="Seconds a client has to send its headers. [default: 10]"),
    body_timeout: float = typer.Option(None, min=0, help="Longest pause while a body is sent. [default: 60]"),
    max_header_bytes: int = typer.Option(None, min=1024, help="Largest request line plus headers. [default: 65536]"),
    llm_slots: int = typer.Option(
        None, min=1, max=256, help="Sequences an LLM generates together (continuous batching). [default: 8]"
    ),
    llm_context: int = typer.Option(
        None, min=64, help="Context tokens per LLM request, prompt included. [default: 2048]"
    ),
    llm_max_waiting: int = typer.Option(
        None, min=0, help="Requests queued per LLM when its slots are busy; beyond it: 429. [default: 32]"
    ),
    llm_threads: int = typer.Option(
        None,
        min=0,
        help="CPU threads per LLM decode step; 0: one-token steps on half the cores (as llama.cpp), larger "
        "steps on the cores other processes leave idle. [default: 0]",
    ),
    llm_capture_content: bool = typer.Option(
        None,
        "--llm-capture-content",
        help="Log prompts and completions in inference events (for content monitors). [default: off]",
    ),
    auth_token: str = typer.Option(
        None,
        help="Require this bearer token (or basic-auth password) on every route but health. [env: CNAI_SERVE_AUTH_TOKEN]",
    ),
    insecure: bool = typer.Option(None, "--insecure", help="Allow a non-loopback bind without a token."),
    allowed_hosts: str = typer.Option(
        None,
        help="Comma-separated Host names to answer besides loopback, IP addresses and the bind address; '*' any. "
        "[env: CNAI_SERVE_ALLOWED_HOSTS]",
    ),
) -> None:
    """Serve MLflow models over the Open Inference Protocol v2 (tritonclient, KServe) and MLflow's /invocations,
    and LLMs (GGUF) and embedding models over OpenAI's API (/v1/chat/completions, /v1/completions, /v1/embeddings).

    Every option can also be set with a CNAI_SERVE_* environment variable (CNAI_SERVE_PORT, ...).
    Registry URIs resolve against CNAI_TRACKING_URI, else MLFLOW_TRACKING_URI.
    """
    from pydantic import ValidationError

    from cnai.serving.guard import check_serve_bind
    from cnai.serving.resolve import parse_model_arg
    from cnai.serving.run import serve as run_server
    from cnai.serving.settings import ServeSettings

    flags: dict[str, Any] = {
        "models": models,
        "host": host,
        "port": port,
        "workers": workers,
        "max_batch_size": max_batch_size,
        "max_batch_delay_ms": max_batch_delay_ms,
        "inline_predict_below_ms": inline_predict_below_ms,
        "predict_sync_wait_ms": predict_sync_wait_ms,
        "max_memory": max_memory,
        "optimize": optimize,
        "lazy": lazy,
        "event_bus": event_bus,
        "inference_log": False if no_inference_log else None,
        "log_sample_rate": log_sample_rate,
        "access_log": access_log,
        "home": home,
        "log_level": log_level,
        "predict_timeout_seconds": predict_timeout,
        "max_hung_predicts": max_hung_predicts,
        "header_timeout_seconds": header_timeout,
        "body_timeout_seconds": body_timeout,
        "max_header_bytes": max_header_bytes,
        "llm_slots": llm_slots,
        "llm_context": llm_context,
        "llm_max_waiting": llm_max_waiting,
        "llm_threads": llm_threads,
        "llm_capture_content": llm_capture_content,
        "auth_token": auth_token,
        "insecure": insecure,
        "allowed_hosts": allowed_hosts,
    }
    try:
        # guarded: a few fields (--max-memory) raise cnai's own InvalidArgument, which pydantic passes through.
        settings = guarded(lambda: ServeSettings(**{k: v for k, v in flags.items() if v is not None}))
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"Invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        raise  # unreachable
    guarded(lambda: check_serve_bind(settings))  # before any model is resolved or loaded
    names = ", ".join(s.name for s in guarded(lambda: [parse_model_arg(m) for m in settings.models]))

    def banner(settings: ServeSettings) -> None:
        console.print(
            f"[bold]cnai serve[/] {names} on [cyan]http://{settings.host}:{settings.port}[/]  "
            f"workers={settings.workers} batching={'on' if settings.batching else 'off'}  "
            f"inference log={'off' if not settings.inference_log else settings.event_bus}"
        )

    # The banner comes once the port accepts connections (with several workers: once the models
    # are fetched and checked); a start that fails prints only its error.
    guarded(lambda: run_server(settings, on_ready=banner))
