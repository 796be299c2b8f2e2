"""`cnai server`: the control plane."""

from __future__ import annotations

from pathlib import Path

import typer

from cnai.cli._common import build_settings, console, guarded
from cnai.settings import Settings

ALLOWED_HOSTS_HELP = (
    "Comma-separated Host names to answer besides loopback, IP addresses and the bind address; "
    "'*' any (only behind a proxy that checks Host). [env: CNAI_ALLOWED_HOSTS]"
)
ALLOWED_ORIGINS_HELP = (
    "Comma-separated browser origins (https://app.example.com) allowed to write, besides the server's own. "
    "[env: CNAI_ALLOWED_ORIGINS]"
)


def server(
    host: str = typer.Option(
        None,
        help="Address to bind. Non-loopback needs a token (--auth-token or `cnai tokens create`) or --insecure. [default: 127.0.0.1]",
    ),
    port: int = typer.Option(None, help="Port to listen on. [default: 8080]"),
    store: str = typer.Option(
        None,
        help="Metadata store URL: sqlite:///path/cnai.db or postgresql+psycopg://user@host/db. "
        "[default: sqlite under CNAI_HOME]",
    ),
    artifacts: str = typer.Option(
        None, help="Artifact root: file:///dir or s3://bucket/prefix. [default: CNAI_HOME/artifacts]"
    ),
    home: Path = typer.Option(None, help="Root for embedded defaults. [env: CNAI_HOME; default: ~/.cnai]"),
    workers: int = typer.Option(None, min=1, max=64, help="Worker processes. [default: 1]"),
    auth_token: str = typer.Option(
        None, help="Require this bearer token (or basic-auth password). [env: CNAI_AUTH_TOKEN]"
    ),
    insecure: bool = typer.Option(None, "--insecure", help="Allow a non-loopback bind without authentication."),
    s3_endpoint_url: str = typer.Option(None, help="Endpoint of an S3-compatible store (MinIO, moto, ...)."),
    allowed_hosts: str = typer.Option(None, help=ALLOWED_HOSTS_HELP),
    allowed_origins: str = typer.Option(None, help=ALLOWED_ORIGINS_HELP),
    log_level: str = typer.Option(None, help="debug, info, warning or error. [default: info]"),
    # ---- what specs may make the server do (admin opt-ins; see cnai.resources.admission) ----
    allow_command_actions: bool = typer.Option(
        None,
        "--allow-command-actions",
        help="Let admins create Monitor command actions; they run only programs on --command-allowlist, "
        "with a minimal environment. [env: CNAI_ALLOW_COMMAND_ACTIONS]",
    ),
    command_allowlist: str = typer.Option(
        None,
        help="Comma-separated programs command actions may run (names on PATH or absolute paths, compared by "
        "their real path). [env: CNAI_COMMAND_ALLOWLIST]",
    ),
    allow_local_models: bool = typer.Option(
        None,
        "--allow-local-models",
        help="Let admins deploy a model from a local MLflow model directory instead of the registry. "
        "[env: CNAI_ALLOW_LOCAL_MODELS]",
    ),
    webhook_allowlist: str = typer.Option(
        None,
        help="Comma-separated hosts or CIDRs that admins' webhooks may reach although loopback, private or "
        "link-local (e.g. 10.0.0.0/8,hooks.internal). [env: CNAI_WEBHOOK_ALLOWLIST]",
    ),
) -> None:
    """Run the control plane: an MLflow-compatible tracking server, model registry and artifact proxy.

    Point the stock mlflow client at it with MLFLOW_TRACKING_URI=http://HOST:PORT.

    Every option can also be set with a CNAI_* environment variable (CNAI_STORE, CNAI_PORT, ...).
    """
    from cnai.server.run import serve

    settings = build_settings(
        host=host,
        port=port,
        store=store,
        artifacts=artifacts,
        home=home,
        workers=workers,
        auth_token=auth_token,
        insecure=insecure,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        s3_endpoint_url=s3_endpoint_url,
        log_level=log_level,
        allow_command_actions=allow_command_actions,
        command_allowlist=command_allowlist,
        allow_local_models=allow_local_models,
        webhook_allowlist=webhook_allowlist,
    )
    guarded(settings.check_bind_is_safe)
    # The banner comes once the port accepts connections: a start that fails prints only its error.
    guarded(lambda: serve(settings, on_ready=_banner))


def _banner(settings: Settings) -> None:
    console.print(
        f"[bold]cnai server[/] on [cyan]http://{settings.host}:{settings.port}[/]  "
        f"store=[green]{_redact(settings.store)}[/]  artifacts=[green]{settings.artifacts}[/]"
    )
    console.print(f"  export MLFLOW_TRACKING_URI=http://{settings.host}:{settings.port}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
