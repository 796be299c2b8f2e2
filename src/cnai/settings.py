"""The one settings object.

Precedence: CLI flags > ``CNAI_*`` environment variables > defaults derived from ``CNAI_HOME``.
Built once at the edge (the CLI or a test fixture) and passed into constructors; nothing else in
the package reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback_host(host: str) -> bool:
    """A bind address reachable only from this machine (both servers' bind checks use it)."""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class FileValuesSource(PydanticBaseSettingsSource):
    """``CNAI_<NAME>_FILE=/path``: a setting's value read from a file, as container secrets are
    mounted (compose ``secrets:``, Kubernetes secret volumes) and as the PostgreSQL, MinIO and
    Grafana images take theirs. Only the first line counts: files written with ``echo`` end in a
    newline that must not become part of a password. A plain ``CNAI_<NAME>`` still wins."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read in __call__

    def __call__(self) -> dict[str, Any]:
        from cnai.errors import InvalidArgument

        prefix = str(self.settings_cls.model_config.get("env_prefix", ""))
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            variable = f"{prefix}{name}_FILE".upper()
            path = os.environ.get(variable)
            if not path:
                continue
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise InvalidArgument(
                    f"{variable}={path}: cannot read it ({exc.strerror}); mount the file or unset {variable}."
                ) from exc
            values[name] = text.splitlines()[0].strip() if text.strip() else ""
        return values


class SettingsWithFiles(BaseSettings):
    """Settings read, in order, from flags, ``<PREFIX><NAME>`` variables, ``<PREFIX><NAME>_FILE``
    files (secrets, see :class:`FileValuesSource`), then defaults."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, FileValuesSource(settings_cls), dotenv_settings, file_secret_settings


class Settings(SettingsWithFiles):
    """Configuration of the control plane (``cnai server``) and the CLI."""

    model_config = SettingsConfigDict(env_prefix="CNAI_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path("~/.cnai"), description="Root for embedded defaults.")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    store: str = Field(default="", description="SQLAlchemy URL of the metadata store.")
    artifacts: str = Field(default="", description="Artifact root: file://... or s3://bucket/prefix.")
    auth_token: str = Field(default="", description="Bearer token (or basic-auth password) required.")
    insecure: bool = Field(default=False, description="Allow a non-loopback bind without auth.")
    workers: int = Field(default=1, ge=1, le=64)
    max_json_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    s3_endpoint_url: str = Field(default="", description="Endpoint for S3-compatible stores.")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    event_bus: str = Field(
        default="", description="Event bus: sqlite:///path/events.db or kafka://host:port. [default: under CNAI_HOME]"
    )
    tracking_uri: str = Field(
        default="http://127.0.0.1:8080",
        validation_alias=AliasChoices("tracking_uri", "CNAI_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="Control plane the CLI talks to.",
    )

    # ---- who may call, from where (cnai.auth) ------------------------------------------------
    allowed_hosts: str = Field(
        default="",
        description="Comma-separated Host names the server answers to, besides loopback and the bind address "
        "('*' accepts any: only behind a proxy that checks Host).",
    )
    allowed_origins: str = Field(
        default="", description="Comma-separated browser origins allowed to call the API, besides the server's own."
    )
    audit_retention_days: float = Field(
        default=90.0,
        ge=0,
        description="Audit-log entries older than this are deleted (hourly); 0 keeps them forever.",
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process trusts its cached token lookups: a revoked token is refused within this time.",
    )

    # ---- what specs may reach beyond the server's own data (admin opt-ins) --------------------
    allow_command_actions: bool = Field(
        default=False, description="Let admins create Monitor command actions (programs on --command-allowlist only)."
    )
    command_allowlist: str = Field(
        default="", description="Comma-separated programs (absolute paths or names on PATH) command actions may run."
    )
    allow_local_models: bool = Field(
        default=False, description="Let admins deploy a model from a local directory instead of the registry."
    )
    webhook_allowlist: str = Field(
        default="",
        description="Comma-separated hosts or CIDRs that webhooks may reach although private, loopback or link-local.",
    )

    # ---- HTTP transport limits (both servers) ------------------------------------------------
    header_timeout_seconds: float = Field(default=10.0, gt=0, description="Time a client has to send its headers.")
    body_timeout_seconds: float = Field(default=60.0, gt=0, description="Longest pause while reading a request body.")
    max_header_bytes: int = Field(default=64 * 1024, ge=1024, description="Largest request line plus headers.")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.home = self.home.expanduser()
        if not self.store:
            self.store = f"sqlite:///{self.home / 'cnai.db'}"
        if not self.artifacts:
            self.artifacts = (self.home / "artifacts").as_uri()
        if not self.event_bus:  # the same default as `cnai serve`'s inference log, so they meet
            self.event_bus = f"sqlite:///{self.home / 'events.db'}"
        return self

    @staticmethod
    def split(value: str) -> list[str]:
        """A comma-separated setting as a list, blanks dropped."""
        return [part.strip() for part in value.split(",") if part.strip()]

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def check_bind_is_safe(self) -> None:
        """Refuse to expose an unauthenticated server beyond this machine: a non-loopback bind needs
        a bootstrap token, or active tokens in the store (``cnai tokens create``), or --insecure."""
        from cnai.errors import InvalidArgument

        if self.is_loopback or self.auth_token or self.insecure:
            return
        from cnai.auth.tokens import store_has_active_tokens

        if not store_has_active_tokens(self.store):
            raise InvalidArgument(
                f"Refusing to bind {self.host} without authentication: create a token with `cnai tokens create`, "
                "set CNAI_AUTH_TOKEN (or --auth-token), or pass --insecure to accept the risk."
            )
