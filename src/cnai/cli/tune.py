"""`cnai tune`: hyperparameter search where every trial is a tracked run."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from cnai.cli._common import build_settings, console, err_console, guarded, print_json
from cnai.cli._format import number


class _RunByDefault(TyperGroup):
    """`cnai tune OBJECTIVE ...` means `cnai tune run OBJECTIVE ...`; `cnai tune show STUDY` shows one."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Hyperparameter search: `cnai tune OBJECTIVE --space SPACE.yaml ...` runs (or resumes) a study; "
    "`cnai tune show STUDY` shows one.",
    no_args_is_help=True,
)

HOME_HELP = "Root of the study journals (tune/) and the embedded store. [env: CNAI_HOME]"


@app.command("run")
def run_study(
    objective: str = typer.Argument(
        ..., help="module:function or path/to/file.py:function; called as objective(params, report)."
    ),
    space: Path = typer.Option(
        ..., "--space", help="YAML file: name: {type: float|int|categorical, low, high, log, choices, when}."
    ),
    trials: int = typer.Option(
        20,
        "--trials",
        min=1,
        help="Trials the study should hold when done (a resumed study runs only the missing ones).",
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Trials run at once, each on a warm worker."),
    direction: str = typer.Option("maximize", "--direction", help="maximize or minimize the objective's value."),
    executor: str = typer.Option("local", "--executor", help="local (worker processes) or ray (Ray actors)."),
    sampler: str = typer.Option("tpe", "--sampler", help="Optuna sampler: tpe, random, grid or cmaes."),
    pruner: str = typer.Option(
        "median", "--pruner", help="Optuna pruner for report(step, value): median, asha, hyperband or none."
    ),
    timeout: float = typer.Option(
        None, "--timeout", help="Start no trial after this many seconds. [default: no limit]"
    ),
    study: str = typer.Option(
        None,
        "--study",
        help="Study name (and the experiment's); an existing study resumes. [default: FUNCTION-DATE-TIME]",
    ),
    register: str = typer.Option(
        None,
        "--register",
        help="Register the best trial's model under this name (the objective returns (value, model)).",
    ),
    seed: int = typer.Option(None, "--seed", help="Seed for the sampler. [default: random]"),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Ray cluster to attach to with --executor ray. [default: start a local Ray]"
    ),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        help="Control plane for the runs. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI] [default: the store under CNAI_HOME]",
    ),
    home: Path = typer.Option(None, "--home", help=HOME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress bar)."),
) -> None:
    """Run a study: each trial's params come from Optuna's sampler, run on a warm worker, and are written as a child run of the study's run."""
    from cnai.tune.driver import run
    from cnai.tune.space import load_space

    settings = build_settings(home=home, tracking_uri=tracking_uri)
    # Other commands always talk to a server; a study needs none: without a URI (flag or env) the
    # runs go straight into the store under CNAI_HOME, where `cnai up` serves them.
    uri = settings.tracking_uri if "tracking_uri" in settings.model_fields_set else ""
    options: dict[str, Any] = {"address": ray_address} if ray_address else {}

    parsed = guarded(lambda: load_space(space))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())

    def go() -> Any:
        if as_json:
            return run(
                objective, parsed, trials=trials, workers=workers, direction=direction, executor=executor,
                sampler=sampler, pruner=pruner, timeout=timeout, study=study, register=register,
                tracking_uri=uri, seed=seed, settings=settings, executor_options=options,
            )  # fmt: skip
        # The bar appears with the first progress (workers up), so an early error stays one line.
        with contextlib.ExitStack() as stack:
            bars: list[tuple[Progress, Any]] = []

            def progress(done: int, total: int, best: float | None) -> None:
                if not bars:
                    bar = stack.enter_context(
                        Progress(*columns, TextColumn("best {task.fields[best]}"), console=err_console)
                    )
                    bars.append((bar, bar.add_task(study or "study", total=total, best="-")))
                bar, task = bars[0]
                bar.update(task, completed=done, total=total, best=number(best) if best is not None else "-")

            return run(
                objective, parsed, trials=trials, workers=workers, direction=direction, executor=executor,
                sampler=sampler, pruner=pruner, timeout=timeout, study=study, register=register,
                tracking_uri=uri, seed=seed, settings=settings, executor_options=options, progress=progress,
            )  # fmt: skip

    result = guarded(go)
    if as_json:
        print_json(result.to_json())
        return
    table = Table(title=f"Study {result.study}", show_header=False)
    table.add_row("best value", number(result.best_value) if result.best_value is not None else "-")
    for key, value in result.best_params.items():
        table.add_row(f"  {key}", number(value))
    table.add_row("trials", f"{result.trials} ({', '.join(f'{n} {s}' for s, n in sorted(result.states.items()))})")
    table.add_row("experiment", result.experiment)
    table.add_row("parent run", result.run_id)
    if result.registered_version:
        table.add_row("registered", f"{register} version {result.registered_version}")
    console.print(table)


@app.command("show")
def show(
    study: str = typer.Argument(..., help="Study name."),
    home: Path = typer.Option(None, "--home", help=HOME_HELP),
    limit: int = typer.Option(50, "--max", min=1, help="Show at most this many trials (best first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts (every trial)."),
) -> None:
    """Show a study's trials, best first."""
    from cnai.tune.show import describe

    settings = build_settings(home=home)
    data = guarded(lambda: describe(settings.home, study))
    if as_json:
        print_json(data)
        return
    params = sorted({k for t in data["trials"] for k in t["params"]})
    table = Table(title=f"Study {study}: {data['direction']}, best {number(data['best_value'])}")
    for col in ("#", "state", "value", "duration", "worker", *params):
        table.add_column(col, overflow="fold")
    for t in data["trials"][:limit]:
        value = number(t["value"]) if t["value"] is not None else (t["error"][:40] or "-")
        duration = f"{t['duration_s']:.2f}s" if t["duration_s"] is not None else "-"
        table.add_row(
            str(t["number"]),
            t["state"],
            value,
            duration,
            t["worker"],
            *(number(t["params"].get(p, "")) for p in params),
        )
    console.print(table)
