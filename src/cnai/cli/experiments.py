"""`cnai experiments`: experiments on the control plane."""

from __future__ import annotations

import typer
from rich.table import Table

from cnai.cli._client import ApiClient
from cnai.cli._common import build_settings, console, print_json
from cnai.cli._format import when

app = typer.Typer(help="Experiments on the control plane.", no_args_is_help=True)


@app.command("list")
def list_experiments(
    view: str = typer.Option("active", help="active, deleted or all."),
    max_results: int = typer.Option(1000, "--max", min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    tracking_uri: str = typer.Option(None, help="Control plane URL. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI]"),
) -> None:
    """List experiments, newest first."""
    view_type = {"active": "ACTIVE_ONLY", "deleted": "DELETED_ONLY", "all": "ALL"}.get(view.lower())
    if view_type is None:
        raise typer.BadParameter("use active, deleted or all", param_hint="--view")
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    found = api.paged(
        "POST",
        "experiments/search",
        "experiments",
        max_results,
        view_type=view_type,
        max_results=min(max_results, 1000),
    )
    if as_json:
        print_json(found)
        return
    table = Table(title=f"Experiments ({len(found)})")
    for col in ("ID", "Name", "Stage", "Created", "Artifact location"):
        table.add_column(col)
    for e in found:
        table.add_row(
            e["experiment_id"],
            e["name"],
            e["lifecycle_stage"],
            when(e.get("creation_time")),
            e["artifact_location"],
        )
    console.print(table)
