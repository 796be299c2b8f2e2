"""`cnai controller`: run one controller on its own, without the API (Kubernetes, Helm)."""

from __future__ import annotations

from pathlib import Path

import typer

from cnai.cli._common import build_settings, guarded

app = typer.Typer(
    help="Run a controller on its own (what the Helm chart and rendered Monitors run).", no_args_is_help=True
)


@app.command("monitor")
def monitor(
    files: list[Path] = typer.Option(
        None, "--file", "-f", help="Monitor spec(s) to apply and run; without: every Monitor in the store."
    ),
    host: str = typer.Option(None, help="Address for /health and /metrics. [default: 127.0.0.1]"),
    port: int = typer.Option(None, help="Port for /health and /metrics. [default: 8080]"),
    home: Path = typer.Option(None, help="Root for embedded defaults. [env: CNAI_HOME; default: ~/.cnai]"),
    store: str = typer.Option(None, help="Metadata store URL. [env: CNAI_STORE; default: sqlite under CNAI_HOME]"),
    artifacts: str = typer.Option(None, help="Artifact root (reference datasets). [env: CNAI_ARTIFACTS]"),
    s3_endpoint_url: str = typer.Option(None, help="Endpoint of an S3-compatible store. [env: CNAI_S3_ENDPOINT_URL]"),
    event_bus: str = typer.Option(None, help="Event bus with the inference log. [env: CNAI_EVENT_BUS]"),
    log_level: str = typer.Option(None, help="debug, info, warning or error. [default: info]"),
    allow_command_actions: bool = typer.Option(
        None, "--allow-command-actions", help="Let command actions run (programs on --command-allowlist only)."
    ),
    command_allowlist: str = typer.Option(None, help="Comma-separated programs command actions may run."),
    webhook_allowlist: str = typer.Option(
        None, help="Comma-separated hosts or CIDRs webhooks may reach although private or loopback."
    ),
) -> None:
    """Run the monitor controller alone: read the inference log, judge windows, act on breaches.

    Without -f it runs every Monitor in the store and takes the store's controller lock (as `cnai up` does, which runs the same controller). With -f it applies those Monitor specs to the store and runs only them, in a consumer group of their own: one process per Monitor, as `cnai k8s render` lays them out. Serves /health and /metrics only. Every option is also a CNAI_* environment variable.
    """
    from cnai.server.monitor_only import run

    settings = build_settings(
        host=host,
        port=port,
        home=home,
        store=store,
        artifacts=artifacts,
        s3_endpoint_url=s3_endpoint_url,
        event_bus=event_bus,
        log_level=log_level,
        allow_command_actions=allow_command_actions,
        command_allowlist=command_allowlist,
        webhook_allowlist=webhook_allowlist,
    )
    guarded(lambda: run(settings, list(files or [])))
