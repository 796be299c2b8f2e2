"""`cnai apply`, `cnai get`, `cnai describe`, `cnai delete`: declarative resources, kubectl-style.

Thin: the files are read and checked here (so a typo is reported before anything is sent), then
each document is applied through the control plane's ``/api/v1/resources`` API.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from cnai.cli._client import ApiClient
from cnai.cli._common import build_settings, console, fail, guarded, print_json
from cnai.cli._format import when
from cnai.resources.documents import Document, load_documents

TRACKING_URI_HELP = "Control plane URL. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI]"
KIND_HELP = "Resource type: deployments (deploy) or monitors (mon)."


def apply(
    filename: list[str] = typer.Option(
        ..., "--filename", "-f", help="YAML file(s) with one or more documents; '-' reads stdin."
    ),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Create or update resources (Deployment, Monitor) from YAML files.

    Each document needs apiVersion: cnai.io/v1, kind, metadata.name and spec. Applying the same file again changes nothing.
    """
    docs = [doc for name in filename for doc in _read(name)]
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    for doc in docs:
        body = {"apiVersion": doc.api_version, "kind": doc.kind, "metadata": {"name": doc.name, "labels": doc.labels}}
        answer = api.v1("PUT", f"resources/{doc.kind}/{doc.name}", {**body, "spec": doc.spec})
        console.print(f"{doc.kind.lower()}/{doc.name} [green]{answer['outcome']}[/]")


def get(
    kind: str = typer.Argument(..., help=KIND_HELP),
    name: str = typer.Argument(None, help="One resource; all of the type when left out."),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """List resources of a type, or show one."""
    if output not in ("table", "json", "yaml"):
        fail(f"Unknown output format {output!r}: use table, json or yaml")
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    items = [api.v1("GET", f"resources/{kind}/{name}")] if name else api.v1("GET", f"resources/{kind}")["items"]
    if output == "json":
        print_json(items[0] if name else items)
        return
    if output == "yaml":
        sys.stdout.write(yaml.safe_dump_all(items, sort_keys=False))
        return
    if not items:
        console.print(f"No {kind} found.")
        return
    columns = _COLUMNS.get(items[0]["kind"], {})
    table = Table(box=None, header_style="bold")
    for col in ("NAME", "STATUS", *columns, "GENERATION", "UPDATED"):
        table.add_column(col, overflow="fold")  # URLs and model URIs whole, never cut with an ellipsis
    for item in items:
        meta, status = item["metadata"], item["status"]
        extra = [show(status, item["spec"]) for show in columns.values()]
        table.add_row(meta["name"], _summary(status), *extra, str(meta["generation"]), when(meta["updateTimestamp"]))
    console.print(table)


def describe(
    kind: str = typer.Argument(..., help=KIND_HELP),
    name: str = typer.Argument(..., help="Resource name."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Show one resource in full: its spec and the status its controller reports."""
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    item = api.v1("GET", f"resources/{kind}/{name}")
    meta = item["metadata"]
    console.print(f"[bold]{item['kind']}[/] [cyan]{meta['name']}[/]  generation {meta['generation']}")
    console.print(f"created {when(meta['creationTimestamp'])}, updated {when(meta['updateTimestamp'])}")
    if meta.get("labels"):
        console.print("labels: " + ", ".join(f"{k}={v}" for k, v in meta["labels"].items()))
    console.print("[bold]spec[/]")
    console.print(yaml.safe_dump(item["spec"], sort_keys=False).rstrip(), highlight=False)
    console.print("[bold]status[/]")
    status = item["status"]
    if status.get("observedGeneration", 0) < meta["generation"]:
        console.print("[yellow]  (the controller has not yet acted on the latest spec: is `cnai up` running?)[/]")
    console.print(yaml.safe_dump(status, sort_keys=False).rstrip(), highlight=False)


def delete(
    kind: str = typer.Argument(None, help=KIND_HELP),
    name: str = typer.Argument(None, help="Resource name."),
    filename: list[str] = typer.Option(None, "--filename", "-f", help="Delete the resources named in these files."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Delete a resource (its controller then stops what it runs), by type and name or by file."""
    targets: list[tuple[str, str]] = []
    if filename:
        targets = [(doc.kind, doc.name) for f in filename for doc in _read(f)]
    elif kind and name:
        targets = [(kind, name)]
    else:
        fail("Give a type and a name (cnai delete deployment wine) or -f FILE")
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    for kind_path, resource_name in targets:
        deleted = api.v1("DELETE", f"resources/{kind_path}/{resource_name}")
        console.print(f"{deleted['kind'].lower()}/{resource_name} [red]deleted[/]")


def _read(filename: str) -> list[Document]:
    if filename == "-":
        text = sys.stdin.read()
    else:
        path = Path(filename)
        if not path.is_file():
            fail(f"No such file: {filename}")
        text = path.read_text(encoding="utf-8")
    docs: list[Document] = guarded(lambda: load_documents(text))
    return docs


def _deployment_ready(status: dict[str, Any], spec: dict[str, Any]) -> str:
    replicas = status.get("replicas") or {}
    return f"{replicas.get('ready', 0)}/{replicas.get('desired', '-')}"


def _deployment_model(status: dict[str, Any], spec: dict[str, Any]) -> str:
    version = (status.get("model") or {}).get("version")
    return f"{spec.get('model')}" + (f" (v{version})" if version else "")


def _deployment_canary(status: dict[str, Any], spec: dict[str, Any]) -> str:
    canary = spec.get("canary")
    return f"{canary['model']} {canary['percent']:g}%" if canary else "-"


def _monitor_drift(status: dict[str, Any], spec: dict[str, Any]) -> str:
    if spec.get("reference") is None:
        return "-"  # a service-only monitor: nothing is compared for drift
    last = status.get("lastWindow") or {}
    share = last.get("driftShare")
    return "-" if share is None else f"{share:.2f}" + (" drift" if last.get("datasetDrift") else "")


def _monitor_error_rate(status: dict[str, Any], spec: dict[str, Any]) -> str:
    service = (status.get("lastWindow") or {}).get("service") or {}
    rate = service.get("errorRate")
    return "-" if rate is None else f"{rate:.1%}"


# Columns `cnai get` shows per kind, between STATUS and GENERATION: what kubectl users look for.
_COLUMNS: dict[str, dict[str, Callable[[dict[str, Any], dict[str, Any]], str]]] = {
    "Deployment": {
        "READY": _deployment_ready,
        "MODEL": _deployment_model,
        "CANARY": _deployment_canary,
        "URL": lambda status, spec: str(status.get("url") or "-"),
    },
    "Monitor": {
        "WINDOWS": lambda status, spec: str(status.get("windows", 0)),
        "BREACHES": lambda status, spec: str(status.get("breaches", 0)),
        "LAST DRIFT SHARE": _monitor_drift,
        "LAST ERROR RATE": _monitor_error_rate,
    },
}


def _summary(status: dict[str, Any]) -> str:
    for key in ("phase", "state", "verdict"):
        if status.get(key):
            return str(status[key])
    return "-" if not status or set(status) == {"observedGeneration"} else "reported"
