"""The ``kind: Deployment`` spec: desired state of one served model, as a user writes it in YAML.

    apiVersion: cnai.io/v1
    kind: Deployment
    metadata: {name: wine}
    spec:
      model: models:/wine@champion        # follows the alias: a moved alias rolls out
      replicas: {min: 0, max: 4}          # min 0: scale to zero when idle
      autoscaling: {targetConcurrency: 10}
      canary: {model: models:/wine/7, percent: 20, maxErrorRate: 0.05}
      llm: {slots: 4, context: 2048}      # a GGUF model: sequences decoded together, tokens per sequence
                                          # (captureContent: true logs prompts, for tests.promptDrift)
      resources:                          # Kubernetes form; the local runner uses limits.memory
        requests: {cpu: 500m, memory: 1Gi}
        limits: {memory: 2Gi, nvidia.com/gpu: 1}

The spec is validated once, when it is applied, and stored normalised (every default filled in),
so the controller reads plain dicts and a re-apply of the same intent is "unchanged". Keys are
camelCase as in Kubernetes manifests, because the same spec renders to Kubernetes later. Who may
name a local model directory is decided by admission (:mod:`cnai.deploy.admission`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from cnai.deploy import quantity
from cnai.errors import InvalidArgument

KIND = "Deployment"
# models:/name/version or models:/name@alias, as `cnai serve` and the mlflow client accept them.
REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))$")
_SERVED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*([kmgtKMGT]i?[bB]?|[bB])?\s*$")
DEFAULT_MAX_REPLICAS = 3  # a laptop-sized ceiling when the spec names none
DEFAULT_SCALE_TO_ZERO_AFTER_S = 300.0


def check_model_uri(uri: str) -> str:
    uri = uri.strip()
    if not uri:
        raise ValueError("a model URI is required: models:/name@alias, models:/name/N or a local model directory")
    if uri.startswith("models:") and not REGISTRY_URI.match(uri):
        raise ValueError(f"{uri!r} is not a registry URI: use models:/name@alias or models:/name/N")
    return uri


class _Part(BaseModel):
    # allow_inf_nan=False: "Infinity" passes a gt=0 bound, then serialises to null in the stored
    # spec, which the controller cannot use (found by the API fuzzer).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False)


class Replicas(_Part):
    min: int = Field(default=1, ge=0, le=64)
    max: int | None = Field(default=None, ge=1, le=64)

    @model_validator(mode="after")
    def _bounds(self) -> Replicas:
        if self.max is None:
            self.max = max(self.min, DEFAULT_MAX_REPLICAS)
        elif self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self


class Autoscaling(_Part):
    target_concurrency: float = Field(default=10.0, gt=0, description="In-flight requests per replica.")
    stable_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    panic_window_seconds: float = Field(default=6.0, gt=0, le=3600)
    panic_threshold: float = Field(default=2.0, ge=1.0)
    scale_to_zero_after_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _windows(self) -> Autoscaling:
        if self.panic_window_seconds > self.stable_window_seconds:
            raise ValueError(
                f"panicWindowSeconds ({self.panic_window_seconds}) must not exceed "
                f"stableWindowSeconds ({self.stable_window_seconds})"
            )
        return self


class Canary(_Part):
    model: str
    percent: float = Field(default=10.0, ge=0, le=100)
    max_error_rate: float | None = Field(default=None, ge=0, le=1, description="Share of 5xx answers, 0-1.")
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    min_requests: int = Field(default=100, ge=1, description="Canary requests before it is judged.")

    _uri = field_validator("model")(check_model_uri)


class Batching(_Part):
    max_batch_size: int | None = Field(default=None, ge=1)
    max_batch_delay_ms: float | None = Field(default=None, ge=0)


class LLM(_Part):
    """How each replica runs a GGUF model (``cnai serve --llm-*``); unset: ``cnai serve``'s defaults.
    Ignored for other models."""

    slots: int | None = Field(default=None, ge=1, le=256, description="Sequences decoded together.")
    context: int | None = Field(default=None, ge=64, le=1 << 20, description="Tokens per sequence.")
    max_waiting: int | None = Field(default=None, ge=0, le=100_000, description="Queued beyond the slots.")
    threads: int | None = Field(default=None, ge=0, le=1024, description="CPU threads per decode; 0: auto.")
    # Prompts and completions in the inference events (cnai serve --llm-capture-content): what a
    # Monitor's tests.promptDrift reads. Off by default: message content is user data.
    capture_content: bool = Field(default=False, description="Log prompts and completions in inference events.")


class Resources(_Part):
    """Compute per replica, in Kubernetes' own form, plus cnai's loaded-model budget.

    ``requests``/``limits`` render unchanged into a Kubernetes container; the local runner uses
    what applies to a process on this machine (``limits.memory`` bounds the loaded models when
    ``maxMemory`` is not given) and ignores the rest (CPU shares, GPUs it does not manage).
    """

    max_memory: str | None = Field(default=None, description="Loaded-model budget per replica, e.g. 2G.")
    requests: dict[str, str] = Field(default_factory=dict, description="cpu, memory (Kubernetes quantities).")
    limits: dict[str, str] = Field(default_factory=dict, description="cpu, memory, nvidia.com/gpu.")

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities(cls, value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must map resource names (cpu, memory, ...) to quantities")
        return {str(k): quantity.normalise(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _kubernetes_rules(self) -> Resources:
        quantity.check_resources(self.requests, self.limits)
        return self

    @property
    def model_budget(self) -> str | None:
        """``--max-memory`` for a replica: ``maxMemory``, else the memory limit in bytes."""
        if self.max_memory is not None:
            return self.max_memory
        if "memory" in self.limits:
            return str(int(quantity.to_number(self.limits["memory"])))
        return None

    @field_validator("max_memory", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not _SIZE.match(value):
            raise ValueError(f"{value!r} is not a size: use bytes or a number with K, M, G or T (e.g. 512M)")
        return value


class DeploymentSpec(_Part):
    model: str
    served_name: str | None = Field(default=None, description="Name clients use; default: the deployment's name.")
    replicas: Replicas = Field(default_factory=Replicas)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    canary: Canary | None = None
    batching: Batching = Field(default_factory=Batching)
    llm: LLM = Field(default_factory=LLM)
    resources: Resources = Field(default_factory=Resources)
    # Not a privileged port (< 1024: sshd, a web server); the control plane's own port is refused
    # by admission (cnai.deploy.admission), which knows it.
    port: int | None = Field(default=None, ge=1024, le=65535, description="Router port; default: a free one.")

    _uri = field_validator("model")(check_model_uri)

    @field_validator("served_name")
    @classmethod
    def _served_name(cls, value: str | None) -> str | None:
        if value is not None and not _SERVED_NAME.match(value):
            raise ValueError(f"{value!r} is not a model name: letters, digits, '_', '.', '-'")
        return value

    @model_validator(mode="after")
    def _scale_to_zero(self) -> DeploymentSpec:
        # The idle period only means something when the floor is zero; filled in here so the stored
        # spec says exactly what the controller will do.
        if self.replicas.min == 0 and self.autoscaling.scale_to_zero_after_seconds is None:
            self.autoscaling.scale_to_zero_after_seconds = DEFAULT_SCALE_TO_ZERO_AFTER_S
        return self


def llm_flags(spec: DeploymentSpec) -> tuple[tuple[str, int], ...]:
    """The ``cnai serve`` flags for the spec's ``llm`` options that are set."""
    options = spec.llm
    given = (
        ("--llm-slots", options.slots),
        ("--llm-context", options.context),
        ("--llm-max-waiting", options.max_waiting),
        ("--llm-threads", options.threads),
    )
    return tuple((flag, value) for flag, value in given if value is not None)


def llm_switches(spec: DeploymentSpec) -> tuple[str, ...]:
    """The ``cnai serve`` flags without a value that the spec's ``llm`` options turn on."""
    return ("--llm-capture-content",) if spec.llm.capture_content else ()


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        path = ".".join(["spec", *(str(p) for p in err["loc"])])
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{path}: {message}")
    return "Invalid Deployment spec: " + "; ".join(problems)


def parse_deployment_spec(spec: dict[str, Any]) -> DeploymentSpec:
    """The typed spec; raises InvalidArgument naming each bad field (``spec.replicas.max: ...``)."""
    if not isinstance(spec, dict):
        raise InvalidArgument("Invalid Deployment spec: spec must be a mapping")
    try:
        return DeploymentSpec.model_validate(spec)
    except ValidationError as exc:
        raise InvalidArgument(_describe(exc)) from None


def validate_deployment_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The ResourceStore's validator for ``kind: Deployment``: checked and normalised (camelCase)."""
    return parse_deployment_spec(spec).model_dump(mode="json", by_alias=True)
