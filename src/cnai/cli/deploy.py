"""`cnai promote DEPLOYMENT`, `cnai rollback DEPLOYMENT`: canary control through the control plane's API."""

from __future__ import annotations

import typer

from cnai.cli._client import ApiClient
from cnai.cli._common import build_settings, console

TRACKING_URI_HELP = "Control plane URL. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI]"


def promote(
    deployment: str = typer.Argument(..., help="Deployment name."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Make a deployment's canary its primary model (a rolling update) and remove the canary.

    A deployment that follows an alias (models:/wine@champion) with a canary of the same model (models:/wine/7) moves the alias to that version and keeps following it.
    """
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    answer = api.v1("POST", f"deployments/{deployment}/promote")
    moved = answer.get("alias")
    if moved:
        console.print(f"models:/{moved['model']}@{moved['alias']} [green]→ version {moved['version']}[/]")
    console.print(f"deployment/{deployment} [green]promoted[/]: now serving {answer['model']}")


def rollback(
    deployment: str = typer.Argument(..., help="Deployment name."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Remove a deployment's canary: all traffic goes back to the primary model."""
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    answer = api.v1("POST", f"deployments/{deployment}/rollback")
    console.print(f"deployment/{deployment} [yellow]rolled back[/]: canary {answer['canary']} removed")
