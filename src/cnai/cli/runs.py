"""`cnai runs`: runs on the control plane."""

from __future__ import annotations

import typer
from rich.table import Table

from cnai.cli._client import ApiClient
from cnai.cli._common import build_settings, console, fail, print_json
from cnai.cli._format import duration, kv, number, when

app = typer.Typer(help="Runs on the control plane.", no_args_is_help=True)

TRACKING_URI_HELP = "Control plane URL. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI]"


@app.command("list")
def list_runs(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment name. [default: all experiments]"),
    filter_string: str = typer.Option(None, "--filter", "-f", help='MLflow filter, e.g. "metrics.acc > 0.9".'),
    order_by: list[str] = typer.Option(None, "--order-by", help='e.g. "metrics.acc DESC"; repeatable.'),
    max_results: int = typer.Option(100, "--max", min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """List runs, newest first, with their metrics and params."""
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    if experiment:
        exp_ids = [
            api.call("GET", "experiments/get-by-name", experiment_name=experiment)["experiment"]["experiment_id"]
        ]
    else:
        exps = api.paged("POST", "experiments/search", "experiments", 100_000, max_results=1000)
        exp_ids = [e["experiment_id"] for e in exps]
    found = api.paged(
        "POST",
        "runs/search",
        "runs",
        max_results,
        experiment_ids=exp_ids,
        filter=filter_string or "",
        order_by=order_by or [],
        max_results=min(max_results, 1000),
    )
    if as_json:
        print_json(found)
        return
    metric_keys = sorted({m["key"] for r in found for m in r["data"].get("metrics", [])})[:6]
    table = Table(title=f"Runs ({len(found)})")
    for col in ("Run ID", "Name", "Exp", "Status", "Started", "Duration", *metric_keys):
        table.add_column(col, overflow="fold")
    for r in found:
        info, metrics = r["info"], kv(r["data"].get("metrics"))
        table.add_row(
            info["run_id"],
            info.get("run_name", ""),
            info["experiment_id"],
            info["status"],
            when(info.get("start_time")),
            duration(info.get("start_time"), info.get("end_time")),
            *[number(metrics.get(k, "")) for k in metric_keys],
        )
    console.print(table)


@app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="The run's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    tracking_uri: str = typer.Option(None, help=TRACKING_URI_HELP),
) -> None:
    """Show one run: info, params, metrics, tags and datasets."""
    if not run_id.strip():
        fail("RUN_ID must not be empty")
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    run = api.call("GET", "runs/get", run_id=run_id)["run"]
    if as_json:
        print_json(run)
        return
    info = run["info"]
    console.print(f"[bold]{info.get('run_name', '')}[/] ({info['run_id']})")
    console.print(
        f"experiment {info['experiment_id']}  status {info['status']}  "
        f"started {when(info.get('start_time'))}  "
        f"duration {duration(info.get('start_time'), info.get('end_time'))}"
    )
    console.print(f"artifacts {info['artifact_uri']}")
    for title, items in (
        ("Params", run["data"].get("params", [])),
        ("Metrics", run["data"].get("metrics", [])),
        ("Tags", run["data"].get("tags", [])),
    ):
        if not items:
            continue
        table = Table(title=title)
        table.add_column("Key")
        table.add_column("Value", overflow="fold")
        if title == "Metrics":
            table.add_column("Step")
        for item in sorted(items, key=lambda i: i["key"]):
            row = [item["key"], number(item["value"])]
            if title == "Metrics":
                row.append(str(item.get("step", 0)))
            table.add_row(*row)
        console.print(table)
    datasets = run.get("inputs", {}).get("dataset_inputs", [])
    for d in datasets:
        console.print(f"dataset {d['dataset']['name']} ({d['dataset']['digest']})")
