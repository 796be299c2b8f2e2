"""The ``kind: Monitor`` spec: what to watch, against what, how often, and what to do on a breach.

    apiVersion: cnai.io/v1
    kind: Monitor
    metadata: {name: iris-drift}
    spec:
      target: {model: {name: iris, version: "1"}}      # or {deployment: {name: iris}}
      reference: {file: /data/iris-reference.csv}        # or {run: <run id>} / {modelVersion: models:/iris/1}
      features: [sepal_length, petal_width]              # default: every reference column
      window: {count: 500}                               # or {seconds: 300, minRows: 30}
      tests:
        driftShareThreshold: 0.5                         # Evidently's default
        columns: {petal_width: {method: psi, threshold: 0.2}}
        performance: {task: classification, thresholds: {accuracy: 0.9}, minLabels: 50}
        service: {thresholds: {errorRate: 0.05, latencyP95Ms: 250}}   # per window, see Service
        promptDrift:                                     # LLM prompts, embedded: see PromptDrift
          embeddings: minilm                             # a Deployment serving /v1/embeddings
          reference: {file: /data/prompts.csv, column: prompt}
          method: model                                  # ratio, distance, mmd (Evidently's methods)
      cooldownSeconds: 3600                              # one incident fires each action once an hour
      actions:
        - webhook:
            url: https://hooks.example/drift
            maxRetries: 5
            headers: {Authorization: {secretEnv: CNAI_SECRET_HOOK}}   # credentials: never plain text
        - alert: {cooldownSeconds: 0}                    # io.cnai.monitor.alert.v1 on every breaching window
        - command: {argv: [python, retrain.py], timeoutSeconds: 600}  # admin + --allow-command-actions

An LLM (or any model whose service rather than whose inputs matters) is watched without a
reference: ``reference`` may be left out when ``tests.service`` is set, and each window then
reports requests, error rate, latency and time-to-first-token percentiles and token use::

    spec:
      target: {deployment: chat}
      window: {seconds: 300, minRows: 20}                # rows are requests for LLM events
      tests:
        service:
          thresholds: {errorRate: 0.02, ttftP95Ms: 800, completionTokensMean: 400, lengthShare: 0.2}
      actions: [{alert: {}}]

``tests.promptDrift`` likewise needs no ``reference`` of its own: it brings a reference of
prompts (see :class:`PromptDrift`).

Field names are camelCase as in Kubernetes; ``validate_monitor_spec`` returns the normalised
spec (defaults filled in, unset options left out) that the resource store keeps.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from cnai.errors import CnaiError, InvalidArgument
from cnai.events.base import check_topic
from cnai.monitoring.drift.embeddings import EmbeddingDriftOptions
from cnai.monitoring.drift.stattests import get_test

KIND = "Monitor"
ALERT_TOPIC = "cnai.monitor.alerts"
ALERT_EVENT_TYPE = "io.cnai.monitor.alert.v1"
MAX_WINDOW_ROWS = 1_000_000
MAX_WINDOW_SECONDS = 7 * 24 * 3600
MAX_ACTIONS = 16
REFERENCE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".parq")
# Metrics a performance threshold may name, and the direction in which each one is "good".
CLASSIFICATION_METRICS = {"accuracy": "min", "f1": "min"}
REGRESSION_METRICS = {"rmse": "max", "mae": "max"}
_MODEL_URI = re.compile(r"^models:/([^/@]+)(?:/(\d+)|@([A-Za-z0-9_-]+))$")

Scalar = str | int | float | bool


class _Spec(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def _one_of(model: BaseModel, names: tuple[str, ...]) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        shown = " or ".join(to_camel(n) for n in names)
        raise ValueError(f"set exactly one of {shown}" + (f" (got {', '.join(map(to_camel, given))})" if given else ""))


def _name_shorthand(value: Any) -> Any:
    """``model: iris`` means ``model: {name: iris}``."""
    return {"name": value} if isinstance(value, str) else value


class ModelTarget(_Spec):
    name: str = Field(min_length=1, max_length=256)
    version: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class DeploymentTarget(_Spec):
    name: str = Field(min_length=1, max_length=256)


class Target(_Spec):
    """Which inference events the monitor reads: those of a model (optionally one version) or of a
    deployment (its replicas serve the model under the deployment's name)."""

    model: ModelTarget | None = None
    deployment: DeploymentTarget | None = None

    @field_validator("model", "deployment", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _name_shorthand(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        _one_of(self, ("model", "deployment"))
        return self

    @property
    def model_name(self) -> str:
        named = self.model or self.deployment
        assert named is not None
        return named.name

    def matches(self, model: object, version: object) -> bool:
        if model != self.model_name:
            return False
        return self.model is None or self.model.version is None or str(version) == self.model.version


class Reference(_Spec):
    """The data a window is compared with: a CSV/Parquet file, or a dataset artifact logged with a
    run (``run``) or with the run that produced a registered model version (``modelVersion``)."""

    file: str | None = Field(default=None, min_length=1, max_length=4096)
    run: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    model_version: str | None = Field(default=None, max_length=600)
    # Where the dataset sits among the run's artifacts; default: reference.parquet, then reference.csv.
    artifact_path: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _check(self) -> Reference:
        _one_of(self, ("file", "run", "model_version"))
        if self.model_version is not None and not _MODEL_URI.match(self.model_version):
            raise ValueError(
                f"modelVersion must look like models:/<name>/<version> or models:/<name>@<alias>, "
                f"got {self.model_version!r}"
            )
        if self.file is not None and self.artifact_path is not None:
            raise ValueError("artifactPath applies to run and modelVersion references, not to file")
        path = self.file or self.artifact_path
        if path is not None and not path.lower().endswith(REFERENCE_SUFFIXES):
            raise ValueError(f"reference {path!r} must be a CSV or Parquet file ({', '.join(REFERENCE_SUFFIXES)})")
        return self

    def model_uri_parts(self) -> tuple[str, str | None, str | None]:
        """``(name, version, alias)`` of ``modelVersion``."""
        match = _MODEL_URI.match(self.model_version or "")
        assert match is not None
        return match.group(1), match.group(2), match.group(3)


class PromptReference(Reference):
    """A reference of prompts: a CSV/Parquet file or run artifact as for ``reference``, and the
    text column that holds the prompts."""

    column: str = Field(default="prompt", min_length=1, max_length=256)


# A Deployment's name (metadata.name): what the embeddings are asked of, never a URL.
_DEPLOYMENT_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class PromptDrift(_Spec):
    """Drift of the prompts an LLM receives, judged on their embeddings (Evidently's embedding
    drift methods, :mod:`cnai.monitoring.drift.embeddings`).

    Each window's prompts (the ``prompt`` input of the LLM's inference events, logged only when the
    LLM deployment sets ``llm.captureContent: true``) and, once per spec and embedding model
    version, the reference prompts are embedded by the Deployment named ``embeddings`` (a
    sentence-transformers model on ``/v1/embeddings``), through its router on this machine. A
    window with ``minPrompts`` prompts whose embeddings drifted breaches with verdict
    ``promptDrift``. Method parameters left out are Evidently's defaults.
    """

    embeddings: str = Field(min_length=1, max_length=63)
    reference: PromptReference
    method: Literal["model", "ratio", "distance", "mmd"] = "model"  # Evidently's default
    threshold: float | None = None
    bootstrap: bool | None = None
    quantile_probability: float | None = Field(default=None, gt=0, lt=1)
    pca_components: int | None = Field(default=None, ge=1, le=4096)
    distance: Literal["euclidean", "cosine", "cityblock", "chebyshev"] | None = None
    component_method: str | None = None
    component_threshold: float | None = None
    min_prompts: int = Field(default=10, ge=2, le=MAX_WINDOW_ROWS)

    @field_validator("embeddings")
    @classmethod
    def _deployment_name(cls, value: str) -> str:
        if not re.match(_DEPLOYMENT_NAME, value):
            raise ValueError(
                f"{value!r} is not a Deployment name: embeddings names the cnai Deployment (its metadata.name) "
                "that serves the embedding model; cnai reaches it through its own router, never a URL"
            )
        return value

    @field_validator("threshold", "component_threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        return _finite_number(value)

    @model_validator(mode="after")
    def _check(self) -> PromptDrift:
        if self.distance is not None and self.method != "distance":
            raise ValueError("distance applies to method distance")
        if (self.component_method is not None or self.component_threshold is not None) and self.method != "ratio":
            raise ValueError("componentMethod and componentThreshold apply to method ratio")
        try:
            self.options()
        except CnaiError as exc:
            raise ValueError(exc.message) from None
        return self

    def options(self) -> EmbeddingDriftOptions:
        return EmbeddingDriftOptions(
            method=self.method,
            threshold=self.threshold,
            bootstrap=self.bootstrap,
            quantile_probability=self.quantile_probability,
            pca_components=self.pca_components,
            distance=self.distance or "euclidean",
            component_method=self.component_method or "wasserstein",
            component_threshold=self.component_threshold,
        )


class Window(_Spec):
    """Tumbling windows of ``count`` rows, or of ``seconds`` (closed once that much time has passed
    since the window's first row and it holds at least ``minRows`` rows)."""

    count: int | None = Field(default=None, ge=2, le=MAX_WINDOW_ROWS)
    seconds: float | None = Field(default=None, gt=0, le=MAX_WINDOW_SECONDS)
    min_rows: int | None = Field(default=None, ge=1, le=MAX_WINDOW_ROWS)

    @model_validator(mode="after")
    def _check(self) -> Window:
        _one_of(self, ("count", "seconds"))
        if self.min_rows is not None and self.count is not None:
            raise ValueError("minRows applies to time windows (seconds), not to count windows")
        return self

    @property
    def minimum_rows(self) -> int:
        return self.min_rows or 1


class ColumnTest(_Spec):
    """A drift test and its threshold (``Tests`` adds the dataset-level options to the same two)."""

    method: str | None = None
    threshold: float | None = None

    @field_validator("method")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return _known_test(value)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        return _finite_number(value)


class Performance(_Spec):
    """Live model quality from ground truth posted to ``/api/v1/feedback``, joined by request id.

    ``thresholds`` name the bound of each metric: accuracy and F1 are minimums (classification),
    RMSE and MAE maximums (regression). A window breaches when it has ``minLabels`` labelled rows
    and a metric is past its bound.
    """

    task: Literal["classification", "regression"]
    labels: Literal["feedback"] = "feedback"
    prediction_output: str | None = Field(default=None, min_length=1, max_length=256)
    positive_label: str | int | bool | None = None
    min_labels: int = Field(default=1, ge=1, le=MAX_WINDOW_ROWS)
    thresholds: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Performance:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        for metric, bound in self.thresholds.items():
            if metric not in allowed:
                raise ValueError(
                    f"threshold {metric!r} does not apply to {self.task}; use {', '.join(sorted(allowed))}"
                )
            if not math.isfinite(bound) or bound < 0 or (allowed[metric] == "min" and bound > 1):
                raise ValueError(f"threshold {metric}={bound} is out of range")
        if self.positive_label is not None and self.task != "classification":
            raise ValueError("positiveLabel applies to classification only")
        return self

    def breached(self, values: dict[str, float | None]) -> list[str]:
        """The metrics past their bound (metrics not computed yet never breach)."""
        bounds = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        out = []
        for metric, bound in self.thresholds.items():
            value = values.get(metric)
            if value is None:
                continue
            if (bounds[metric] == "min" and value < bound) or (bounds[metric] == "max" and value > bound):
                out.append(metric)
        return out


# Window statistics of the service (see ``cnai.monitoring.monitor.service``) a threshold may name;
# each threshold is a maximum. Shares are 0-1.
SERVICE_METRICS = frozenset(
    {
        "requests", "errorRate", "latencyMeanMs", "latencyP50Ms", "latencyP95Ms", "latencyP99Ms",
        "ttftMeanMs", "ttftP50Ms", "ttftP95Ms", "ttftP99Ms",
        "promptTokens", "completionTokens", "totalTokens",
        "promptTokensMean", "completionTokensMean", "totalTokensMean",
        "promptTokensP95", "completionTokensP95", "lengthShare",
    }
)  # fmt: skip
SERVICE_SHARES = frozenset({"errorRate", "lengthShare"})


class Service(_Spec):
    """Service checks per window from the inference events' status, latency and token counts.

    A window breaches when it holds at least ``minRequests`` requests and a statistic is above its
    threshold. Errors are answers with a 5xx status or 429 (rejected: the queue was full); a
    client's own mistakes (4xx) and disconnects are not. Latency percentiles are over the
    successful requests; TTFT and tokens over the LLM requests that produced them. Only the
    OpenAI routes log failed requests, so ``errorRate`` means something for LLM and embedding
    models; latency applies to every model.
    """

    min_requests: int = Field(default=1, ge=1, le=MAX_WINDOW_ROWS)
    thresholds: dict[str, float] = Field(default_factory=dict)

    @field_validator("thresholds")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        for name, bound in value.items():
            if name not in SERVICE_METRICS:
                raise ValueError(f"unknown service metric {name!r}; use {', '.join(sorted(SERVICE_METRICS))}")
            if not math.isfinite(bound) or bound < 0 or (name in SERVICE_SHARES and bound > 1):
                raise ValueError(f"threshold {name}={bound} is out of range")
        return value

    def breached(self, stats: dict[str, Any]) -> list[str]:
        """The statistics above their threshold (none before ``minRequests`` requests)."""
        if stats.get("requests", 0) < self.min_requests:
            return []
        out = []
        for name, bound in self.thresholds.items():
            value = stats.get(name)
            if isinstance(value, int | float) and value > bound:
                out.append(name)
        return out


class Tests(ColumnTest):
    """Drift tests: Evidently's ``DataDriftPreset`` defaults unless overridden globally (``method``,
    ``threshold``) or per column (``columns``)."""

    columns: dict[str, ColumnTest] = Field(default_factory=dict)
    categorical: list[str] = Field(default_factory=list)
    numerical: list[str] = Field(default_factory=list)
    drift_share_threshold: float = Field(default=0.5, gt=0, le=1)
    performance: Performance | None = None
    service: Service | None = None
    prompt_drift: PromptDrift | None = None

    @model_validator(mode="after")
    def _check(self) -> Tests:
        both = set(self.categorical) & set(self.numerical)
        if both:
            raise ValueError(f"column(s) both categorical and numerical: {', '.join(sorted(both))}")
        return self


class SecretRef(_Spec):
    """``{secretEnv: CNAI_SECRET_X}``: a header value read from the server's environment when the
    webhook is sent, so the credential is never stored in the spec, shown by the API or the UI."""

    secret_env: str = Field(pattern=r"^CNAI_SECRET_[A-Z0-9_]+$", max_length=128)


# Header names whose values are credentials: never accepted as plain text in a spec.
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SENSITIVE_PARTS = ("token", "secret", "key", "auth", "password", "cookie")
COOLDOWN_SECONDS = 3600.0
MAX_COOLDOWN_SECONDS = 30 * 24 * 3600.0


def is_sensitive_header(name: str) -> bool:
    lower = name.lower()
    return lower in SENSITIVE_HEADERS or any(part in lower for part in SENSITIVE_PARTS)


class Webhook(_Spec):
    """POST the alert as JSON with an ``Idempotency-Key`` header; retried on 5xx, 408, 429 and
    connection errors with exponential backoff (``backoffSeconds`` x 2^attempt, at most 5 min).
    Redirects are not followed. Credentials go in headers as ``{secretEnv: CNAI_SECRET_...}``."""

    url: str = Field(pattern=r"^https?://[^\s/]+\S*$", max_length=2048)
    headers: dict[str, str | SecretRef] = Field(default_factory=dict)
    max_retries: int = Field(default=5, ge=0, le=50)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    cooldown_seconds: float | None = Field(default=None, ge=0, le=MAX_COOLDOWN_SECONDS)

    @field_validator("url")
    @classmethod
    def _no_userinfo(cls, value: str) -> str:
        if "@" in value.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "credentials in the URL would be stored in plain text: send them in a header "
                "given as {secretEnv: CNAI_SECRET_...}"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str | SecretRef]) -> dict[str, str | SecretRef]:
        for name, given in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"invalid HTTP header name {name!r}")
            if name.lower() in ("idempotency-key", "content-type", "content-length", "host"):
                raise ValueError(f"header {name!r} is set by cnai")
            if isinstance(given, str) and is_sensitive_header(name):
                raise ValueError(
                    f"header {name!r} carries a credential and must not be stored in plain text: "
                    "give it as {secretEnv: CNAI_SECRET_<NAME>}, read from the server's environment "
                    "when the webhook is sent"
                )
            if isinstance(given, str) and any(c in given for c in "\r\n\0"):
                raise ValueError(f"header {name!r} holds a line break")
        return value


class AlertAction(_Spec):
    """An ``io.cnai.monitor.alert.v1`` CloudEvent on the event bus (its id is the idempotency key)."""

    topic: str = ALERT_TOPIC
    max_retries: int = Field(default=5, ge=0, le=50)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    cooldown_seconds: float | None = Field(default=None, ge=0, le=MAX_COOLDOWN_SECONDS)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        try:
            return check_topic(value)
        except CnaiError as exc:
            raise ValueError(exc.message) from None


class Command(_Spec):
    """Run ``argv`` (no shell) in a minimal environment: ``PATH``, ``HOME``, ``LANG``, ``TZ`` (those
    the server has) and ``CNAI_MONITOR``, ``CNAI_WINDOW``, ``CNAI_DRIFT_SHARE``,
    ``CNAI_IDEMPOTENCY_KEY`` and ``CNAI_ALERT_JSON`` (the alert itself); nothing else of the
    server's environment. A non-zero exit or a timeout counts as a failed attempt. Needs the admin
    role and a server started with ``--allow-command-actions`` and ``argv[0]`` on
    ``--command-allowlist`` (see :mod:`cnai.monitoring.monitor.admission`)."""

    argv: list[str] = Field(min_length=1, max_length=256)
    timeout_seconds: float = Field(default=60.0, gt=0, le=24 * 3600)
    max_retries: int = Field(default=0, ge=0, le=50)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    cooldown_seconds: float | None = Field(default=None, ge=0, le=MAX_COOLDOWN_SECONDS)

    @field_validator("argv")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("argv[0] (the program) must not be empty")
        return value


class Action(_Spec):
    webhook: Webhook | None = None
    alert: AlertAction | None = None
    command: Command | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_alert(cls, value: Any) -> Any:
        # ``- alert:`` (no options) reads as {"alert": None} from YAML: take the defaults.
        if isinstance(value, dict) and "alert" in value and value["alert"] is None:
            return {**value, "alert": {}}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        _one_of(self, ("webhook", "alert", "command"))
        return self

    @property
    def kind(self) -> str:
        return "webhook" if self.webhook else "alert" if self.alert else "command"

    @property
    def options(self) -> Webhook | AlertAction | Command:
        chosen = self.webhook or self.alert or self.command
        assert chosen is not None
        return chosen

    def cooldown(self, default: float) -> float:
        """Seconds before this action fires again within one incident (see ``incidents``)."""
        own = self.options.cooldown_seconds
        return default if own is None else own


class MonitorSpec(_Spec):
    target: Target
    reference: Reference | None = None  # None: no drift tests of features, only tests.service/promptDrift
    features: list[str] | None = Field(default=None, min_length=1, max_length=10_000)
    window: Window
    tests: Tests = Field(default_factory=Tests)
    actions: list[Action] = Field(default_factory=list, max_length=MAX_ACTIONS)
    # One incident (consecutive breaching windows) fires each action once, and again only after
    # this long while it lasts; an action may set its own. 0 fires on every breaching window.
    cooldown_seconds: float = Field(default=COOLDOWN_SECONDS, ge=0, le=MAX_COOLDOWN_SECONDS)

    @property
    def cooldowns_ms(self) -> list[int]:
        return [round(a.cooldown(self.cooldown_seconds) * 1000) for a in self.actions]

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if any(not isinstance(f, str) or not f for f in value):
            raise ValueError("feature names must be non-empty strings")
        duplicates = sorted({f for f in value if value.count(f) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature(s): {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _reference_or_service(self) -> MonitorSpec:
        if self.reference is None:
            if self.tests.service is None and self.tests.prompt_drift is None:
                raise ValueError(
                    "reference is required for drift tests; a monitor without one must set tests.service "
                    "or tests.promptDrift"
                )
            if self.features is not None:
                raise ValueError("features name reference columns: they need a reference")
        return self

    @model_validator(mode="after")
    def _columns_are_features(self) -> MonitorSpec:
        if self.features is None:
            return self
        named = set(self.tests.columns) | set(self.tests.categorical) | set(self.tests.numerical)
        unknown = sorted(named - set(self.features))
        if unknown:
            raise ValueError(f"tests name column(s) not in features: {', '.join(unknown)}")
        return self


def parse_monitor_spec(spec: Any) -> MonitorSpec:
    """The typed spec; InvalidArgument naming each bad field (``window.count: ...``)."""
    if not isinstance(spec, dict):
        raise InvalidArgument(f"A Monitor spec must be a mapping, got {type(spec).__name__}")
    try:
        return MonitorSpec.model_validate(spec)
    except ValidationError as exc:
        raise InvalidArgument(f"Invalid Monitor spec: {_describe(exc)}") from None


def validate_monitor_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise a Monitor spec for the resource store (``SpecValidator``)."""
    return parse_monitor_spec(spec).model_dump(mode="json", by_alias=True, exclude_none=True)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "spec"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _known_test(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return get_test(value).name
    except CnaiError as exc:
        raise ValueError(exc.message) from None


def _finite_number(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value
