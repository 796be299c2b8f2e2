"""Entry point of the `cnai` command: registers each command group's module."""

from __future__ import annotations

import os

import typer

from cnai import __version__
from cnai.cli import controller as controller_cmd
from cnai.cli import db as db_cmd
from cnai.cli import deploy as deploy_cmd
from cnai.cli import drift as drift_cmd
from cnai.cli import experiments as experiments_cmd
from cnai.cli import k8s as k8s_cmd
from cnai.cli import models as models_cmd
from cnai.cli import pipeline as pipeline_cmd
from cnai.cli import quickstart as quickstart_cmd
from cnai.cli import resources as resources_cmd
from cnai.cli import runs as runs_cmd
from cnai.cli import serve as serve_cmd
from cnai.cli import server as server_cmd
from cnai.cli import tokens as tokens_cmd
from cnai.cli import tune as tune_cmd
from cnai.cli import up as up_cmd

app = typer.Typer(
    name="cnai",
    help="cnai: track, register, serve, watch and roll out ML models, the cloud-native way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnai {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """cnai: track, register, serve, watch and roll out ML models, the cloud-native way."""
    # cnai's processes (and the replicas they start) load and log models through mlflow's library.
    # Its usage telemetry stays off in them unless the user set it: cnai's servers phone nowhere,
    # and where its endpoint cannot be reached mlflow's telemetry thread deletes a variable from
    # os.environ while other threads read it (a KeyError in registry calls, seen under load).
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


app.command("up")(up_cmd.up)
app.command("server")(server_cmd.server)
app.command("serve")(serve_cmd.serve)
app.command("quickstart")(quickstart_cmd.quickstart)
app.command("drift")(drift_cmd.drift)
app.command("apply")(resources_cmd.apply)
app.command("get")(resources_cmd.get)
app.command("describe")(resources_cmd.describe)
app.command("delete")(resources_cmd.delete)
app.command("promote")(deploy_cmd.promote)
app.command("rollback")(deploy_cmd.rollback)
app.add_typer(db_cmd.app, name="db")
app.add_typer(experiments_cmd.app, name="experiments")
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(models_cmd.app, name="models")
app.add_typer(tokens_cmd.app, name="tokens")
app.add_typer(k8s_cmd.app, name="k8s")
app.add_typer(controller_cmd.app, name="controller")
app.add_typer(pipeline_cmd.app, name="pipeline")
app.add_typer(tune_cmd.app, name="tune")
app.command("audit")(tokens_cmd.audit)
# Other command groups (serve, drift, ...) register themselves here, one line each.


if __name__ == "__main__":
    app()
