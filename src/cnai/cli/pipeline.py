"""`cnai pipeline`: run, plan and compile ML pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cnai.cli._common import build_settings, console, fail, guarded, print_json

if TYPE_CHECKING:
    from cnai.pipelines.service import Loaded

app = typer.Typer(
    help="ML pipelines: run locally or on Ray, plan the cache, compile to Kubeflow or Argo.", no_args_is_help=True
)

FILE_HELP = "A Python file with @step functions and a @pipeline."
PIPELINE_HELP = "Which @pipeline of FILE, when it defines several."
PARAM_HELP = "A pipeline parameter as key=value; repeatable."
TRACKING_URI_HELP = (
    "Control plane URL to record runs in. [default: the embedded store under CNAI_HOME] [env: CNAI_TRACKING_URI]"
)
HOME_HELP = "Where the embedded store, artifacts and cache live. [env: CNAI_HOME; default: ~/.cnai]"


def _load(file: Path, pipeline: str | None, param: list[str] | None) -> Loaded:
    from cnai.pipelines import params, service

    return guarded(lambda: service.load(file, pipeline, params.parse_pairs(param or [])))


@app.command("run")
def run(
    file: Path = typer.Argument(..., help=FILE_HELP),
    pipeline: str = typer.Option(None, "--pipeline", "-p", help=PIPELINE_HELP),
    param: list[str] = typer.Option(None, "--param", help=PARAM_HELP),
    executor: str = typer.Option("local", "--executor", help="Where steps run: local (warm worker processes) or ray."),
    workers: int = typer.Option(None, "--workers", min=1, help="Steps at once. [default: CPU count, 2 to 8]"),
    ray_address: str = typer.Option(
        None, "--ray-address", help="An existing Ray cluster (ray://host:10001 or auto). [default: start a local one]"
    ),
    experiment: str = typer.Option("pipelines", "--experiment", help="Experiment that holds the pipeline runs."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help=TRACKING_URI_HELP),
    home: Path = typer.Option(None, "--home", help=HOME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Run a pipeline: cached steps are reused, the rest run; a parent run with a child run per step is recorded."""
    from cnai.pipelines import service

    settings = build_settings(tracking_uri=tracking_uri, home=home)
    loaded = _load(file, pipeline, param)
    options: dict[str, object] = {"max_workers": workers}
    if executor == "ray":
        options["address"] = ray_address
    elif ray_address:
        fail("--ray-address needs --executor ray")
    report = guarded(
        lambda: service.run(
            loaded,
            settings,
            executor=executor,
            remote=tracking_uri is not None,
            experiment=experiment,
            executor_options=options,
        )
    )
    if as_json:
        print_json(report.as_json())
    else:
        table = Table(title=f"Pipeline {loaded.graph.name} · run {report.run_id}")
        for col in ("Step", "Status", "Cached", "Attempts", "Seconds", "Error"):
            table.add_column(col, overflow="fold")
        for s in report.steps:
            table.add_row(
                s.name, s.status, "yes" if s.cached else "", str(s.attempts or ""), f"{s.duration_s:.3f}", s.error
            )
        console.print(table)
        console.print(f"{report.status}: {report.executed} step attempt(s) executed; output: {report.output!r}")
    if report.status != "succeeded":
        raise typer.Exit(1)


@app.command("plan")
def plan(
    file: Path = typer.Argument(..., help=FILE_HELP),
    pipeline: str = typer.Option(None, "--pipeline", "-p", help=PIPELINE_HELP),
    param: list[str] = typer.Option(None, "--param", help=PARAM_HELP),
    home: Path = typer.Option(None, "--home", help=HOME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Say, before running, which steps will come from the cache and which will run, and why."""
    from cnai.pipelines import service

    settings = build_settings(home=home)
    loaded = _load(file, pipeline, param)
    steps = guarded(lambda: service.plan(loaded, settings))
    if as_json:
        print_json({"pipeline": loaded.graph.name, "steps": [s.as_json() for s in steps]})
        return
    table = Table(title=f"Plan for pipeline {loaded.graph.name}")
    for col in ("Step", "Will", "Why", "Key"):
        table.add_column(col, overflow="fold")
    for s in steps:
        table.add_row(s.name, "use cache" if s.cached else s.status, s.reason, s.key[:12])
    console.print(table)


@app.command("compile")
def compile_(
    file: Path = typer.Argument(..., help=FILE_HELP),
    target: str = typer.Option(
        ..., "--target", "-t", help="kfp (Kubeflow Pipelines IR YAML) or argo (an Argo Workflow)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write here. [default: stdout]"),
    pipeline: str = typer.Option(None, "--pipeline", "-p", help=PIPELINE_HELP),
    image: str = typer.Option(
        None,
        "--image",
        help="Container image of each step (ghcr.io/cnai-project/cnai:VERSION by default). [default: this version's image]",
    ),
) -> None:
    """Compile a pipeline for a cluster: each step a container of the cnai image running `python -m cnai.pipelines.entry`."""
    from cnai.pipelines import compilers

    loaded = _load(file, pipeline, [])
    text = guarded(lambda: compilers.compile_pipeline(loaded, target, image=image))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"Wrote {target} pipeline {loaded.graph.name} to {output}")
