"""`cnai up`: the control plane with its controllers, on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from cnai.cli._common import build_settings, console, guarded
from cnai.cli.server import ALLOWED_HOSTS_HELP, ALLOWED_ORIGINS_HELP, _redact
from cnai.settings import Settings


def up(
    host: str = typer.Option(
        None,
        help="Address to bind. Non-loopback needs a token (--auth-token or `cnai tokens create`) or --insecure. [default: 127.0.0.1]",
    ),
    port: int = typer.Option(None, help="Control-plane port. [default: 8080]"),
    home: Path = typer.Option(None, help="Root for embedded defaults. [env: CNAI_HOME; default: ~/.cnai]"),
    store: str = typer.Option(None, help="Metadata store URL. [default: sqlite under CNAI_HOME]"),
    artifacts: str = typer.Option(
        None, help="Artifact root: file:///dir or s3://bucket/prefix. [default: CNAI_HOME/artifacts]"
    ),
    event_bus: str = typer.Option(
        None, help="Event bus: sqlite:///path/events.db or kafka://host:port. [default: CNAI_HOME/events.db]"
    ),
    auth_token: str = typer.Option(None, help="Require this bearer token. [env: CNAI_AUTH_TOKEN]"),
    insecure: bool = typer.Option(None, "--insecure", help="Allow a non-loopback bind without authentication."),
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
    """Start the control plane with the deployment and monitor controllers, and keep them running.

    Tracking, registry, artifacts, the web UI (/), /api/v1 (resources, feedback) and /metrics are served on one port. Apply specs with `cnai apply -f`; the controllers start model servers, routers and monitors for them. Ctrl-C or SIGTERM stops everything cleanly (replicas included).

    Every option can also be set with a CNAI_* environment variable (CNAI_PORT, CNAI_STORE, CNAI_EVENT_BUS, ...).
    """
    from cnai.server.run import serve

    settings = build_settings(
        host=host,
        port=port,
        home=home,
        store=store,
        artifacts=artifacts,
        event_bus=event_bus,
        auth_token=auth_token,
        insecure=insecure,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        log_level=log_level,
        allow_command_actions=allow_command_actions,
        command_allowlist=command_allowlist,
        allow_local_models=allow_local_models,
        webhook_allowlist=webhook_allowlist,
    )
    guarded(settings.check_bind_is_safe)
    # The banner comes once the port accepts connections: a start that fails prints only its error.
    guarded(lambda: serve(settings, with_controllers=True, on_ready=_banner))


def _banner(settings: Settings) -> None:
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]cnai up[/]  control plane on [cyan]{base}[/]")
    console.print(f"  web UI                {base}/")
    console.print(f"  tracking + registry   export MLFLOW_TRACKING_URI={base}")
    console.print(
        f"  resources             cnai apply -f spec.yaml   ·   cnai get deployments   ·   {base}/api/v1/resources/deployments"
    )
    console.print(f"  metrics               {base}/metrics")
    console.print(f"  store                 {_redact(settings.store)}")
    console.print(f"  artifacts             {settings.artifacts}")
    console.print(f"  event bus             {settings.event_bus}")
    console.print("  Ctrl-C to stop.")
