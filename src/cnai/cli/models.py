"""`cnai models`: the model registry."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cnai.cli._client import ApiClient
from cnai.cli._common import build_settings, console, guarded, print_json
from cnai.cli._format import when

app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)

TRACKING_URI_HELP = "Control plane URL. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI]"


@app.command("list")
def list_models(
    filter_string: str = typer.Option(None, "--filter", "-f", help="e.g. \"name LIKE 'iris%'\"."),
    max_results: int = typer.Option(1000, "--max", min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """List registered models with their aliases and latest version."""
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    found = api.paged(
        "GET",
        "registered-models/search",
        "registered_models",
        max_results,
        filter=filter_string or None,
        max_results=min(max_results, 1000),
    )
    if as_json:
        print_json(found)
        return
    table = Table(title=f"Registered models ({len(found)})")
    for col in ("Name", "Latest version", "Aliases", "Updated", "Description"):
        table.add_column(col, overflow="fold")
    for m in found:
        latest = max((int(v["version"]) for v in m.get("latest_versions", [])), default=None)
        aliases = ", ".join(f"{a['alias']}→v{a['version']}" for a in m.get("aliases", []))
        table.add_row(
            m["name"],
            str(latest or "-"),
            aliases or "-",
            when(m.get("last_updated_timestamp")),
            m.get("description") or "",
        )
    console.print(table)


@app.command("show")
def show_model(
    name: str = typer.Argument(..., help="Registered model name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Show a registered model and all of its versions."""
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    model = api.call("GET", "registered-models/get", name=name)["registered_model"]
    quoted = name.replace("'", "''")  # the filter grammar escapes a quote by doubling it
    versions = api.paged(
        "GET",
        "model-versions/search",
        "model_versions",
        100_000,
        filter=f"name = '{quoted}'",
        max_results=1000,
    )
    if as_json:
        print_json({"registered_model": model, "model_versions": versions})
        return
    console.print(f"[bold]{model['name']}[/]  {model.get('description') or ''}")
    tags = ", ".join(f"{t['key']}={t['value']}" for t in model.get("tags", []))
    if tags:
        console.print(f"tags: {tags}")
    table = Table(title=f"Versions ({len(versions)})")
    for col in ("Version", "Aliases", "Status", "Created", "Run", "Source"):
        table.add_column(col, overflow="fold")
    for v in sorted(versions, key=lambda v: int(v["version"]), reverse=True):
        table.add_row(
            v["version"],
            ", ".join(v.get("aliases", [])) or "-",
            v["status"],
            when(v.get("creation_timestamp")),
            v.get("run_id", "-"),
            v["source"],
        )
    console.print(table)


@app.command("download")
def download(
    uri: str = typer.Argument(..., help="models:/name/version or models:/name@alias."),
    dest: Path = typer.Argument(..., help="Directory to create the model in (DEST/MLmodel); empty or new."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Download a registered model version into DEST, ready for `cnai serve NAME=DEST`.

    What the init container of a rendered Kubernetes Deployment runs, and the command KServe's storage initializer calls for models:/ URIs (`cnai models download SRC DEST`). Authenticates with MLFLOW_TRACKING_TOKEN when set.
    """
    from cnai.serving.resolve import download_model

    settings = build_settings(tracking_uri=tracking_uri)
    path, version = guarded(lambda: download_model(uri, settings.tracking_uri, dest))
    console.print(f"Downloaded {uri} (version {version}) to {path}")
