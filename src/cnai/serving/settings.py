"""Settings of the model server (``cnai serve``), apart from the control plane's.

Environment variables use the ``CNAI_SERVE_`` prefix so that a ``CNAI_PORT`` meant for the
control plane never moves the model server; ``CNAI_HOME`` and the tracking URI
(``CNAI_TRACKING_URI``, else ``MLFLOW_TRACKING_URI``) are shared with the rest of cnai. With
``--workers N`` the CLI hands these settings to uvicorn's worker processes through the same
``CNAI_SERVE_*`` variables, so each worker builds the identical object.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from cnai.errors import InvalidArgument
from cnai.settings import SettingsWithFiles

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """``512MB``, ``2G``, ``1.5GiB`` or a byte count; binary units either way."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise InvalidArgument(f"Invalid size {text!r}: use bytes or a number with K, M, G or T")
    unit = (match.group(2) or "").lower().rstrip("b").rstrip("i")
    return int(float(match.group(1)) * _UNITS[unit])


class ServeSettings(SettingsWithFiles):
    model_config = SettingsConfigDict(env_prefix="CNAI_SERVE_", extra="ignore", populate_by_name=True)

    models: list[str] = Field(default_factory=list, description="MODEL specs: dir, models:/ URI, or NAME=URI")
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_batch_size: int = Field(default=64, ge=1, description="Rows per batch; 1 turns batching off.")
    max_batch_delay_ms: float = Field(default=2.0, ge=0)
    inline_predict_below_ms: float = Field(
        default=0.0,
        ge=0,
        description="Opt-in, unsafe for models that can block: predicts faster than this run on the event loop, "
        "where no timeout can stop them. 0 (the default): always in the model's thread.",
    )
    predict_sync_wait_ms: float = Field(
        default=2.0,
        ge=0,
        description="Longest time the server waits for a fast model's thread directly (a cheaper hand-off than "
        "through the event loop) before awaiting it under the predict timeout; with batching off, requests that "
        "arrive together share one hand-off (separate predict calls). 0: always through the loop, one by one.",
    )
    max_memory: int = Field(default=0, ge=0, description="Bytes of loaded models before LRU eviction; 0: no limit.")
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    lazy: bool = Field(default=False, description="Load models on first request instead of at start.")
    optimize: str = Field(default="", description="'onnx' converts supported sklearn models with skl2onnx.")
    inference_log: bool = True
    event_bus: str = Field(default="", description="Event-bus URL; default sqlite:///$CNAI_HOME/events.db")
    log_sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    log_queue_size: int = Field(default=10_000, ge=1)
    access_log: bool = False
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "warning"
    home: Path = Field(default=Path("~/.cnai"), validation_alias=AliasChoices("CNAI_SERVE_HOME", "CNAI_HOME"))
    tracking_uri: str = Field(
        default="",
        validation_alias=AliasChoices("CNAI_SERVE_TRACKING_URI", "CNAI_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    )
    otel_endpoint: str = Field(
        default="", validation_alias=AliasChoices("CNAI_SERVE_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    # ---- LLMs (GGUF models on the OpenAI routes) ------------------------------------------------
    llm_slots: int = Field(
        default=8, ge=1, le=256, description="Sequences an LLM decodes together (continuous batching)."
    )
    llm_context: int = Field(default=2048, ge=64, description="Context tokens per sequence (prompt plus answer).")
    llm_threads: int = Field(
        default=0,
        ge=0,
        description="CPU threads per LLM decode step; 0: one-token steps on half the cores (llama.cpp's default), "
        "steps of several tokens on the cores other processes leave idle.",
    )
    llm_max_waiting: int = Field(
        default=32, ge=0, description="Requests queued for a busy LLM beyond its slots; more get 429 with Retry-After."
    )
    llm_capture_content: bool = Field(
        default=False,
        description="Put message content (prompts, completions, embedding inputs) in inference events; "
        "off by default: events carry counts, latency and status only.",
    )
    # ---- who may call, from where --------------------------------------------------------------
    auth_token: str = Field(
        default="", description="Bearer token (or basic-auth password) required by every route but health."
    )
    insecure: bool = Field(default=False, description="Allow a non-loopback bind without a token.")
    allowed_hosts: str = Field(
        default="",
        description="Comma-separated Host names accepted besides loopback and the bind address; '*' accepts any.",
    )
    # ---- a slow or hung model, a slow client ---------------------------------------------------
    predict_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A predict running longer fails its requests with 504; the server stays up."
    )
    max_hung_predicts: int = Field(
        default=4, ge=1, description="Timed-out predicts still running before the model reports not ready (503)."
    )
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=60.0, gt=0)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("max_memory", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return parse_size(value) if isinstance(value, str) else value

    @field_validator("optimize")
    @classmethod
    def _optimize(cls, value: str) -> str:
        if value not in ("", "onnx"):
            raise ValueError("optimize must be 'onnx' or empty")
        return value

    @model_validator(mode="after")
    def _fill(self) -> ServeSettings:
        self.home = self.home.expanduser()
        if not self.event_bus:
            self.event_bus = f"sqlite:///{self.home / 'events.db'}"
        return self

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1

    def to_env(self) -> dict[str, str]:
        """These settings as ``CNAI_SERVE_*`` variables, for worker processes."""
        import orjson

        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            key = f"CNAI_SERVE_{name.upper()}"
            if isinstance(value, list):
                env[key] = orjson.dumps(value).decode()
            elif isinstance(value, bool):
                env[key] = "true" if value else "false"
            else:
                env[key] = str(value)
        return env
