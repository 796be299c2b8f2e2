"""The table the quickstart ends with: what happened at each stage, with the numbers."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cnai.quickstart import training
from cnai.quickstart.story import CANARY_PERCENT, DEPLOYMENT, MONITOR, Outcome


def render(o: Outcome, console: Console) -> None:
    sweep = Table(title="Sweep: LogisticRegression on the wine dataset (held-out accuracy)")
    for col in ("C", "accuracy", "run id", ""):
        sweep.add_column(col)
    best = max(o.candidates, key=lambda c: c.accuracy)
    for c in o.candidates:
        sweep.add_row(str(c.c), f"{c.accuracy:.3f}", c.run_id, "[green]champion[/]" if c is best else "")
    console.print(sweep)

    story = Table(title="The loop", show_lines=False)
    story.add_column("stage")
    story.add_column("result")
    story.add_row("registered", f"{training.MODEL_NAME} v{o.champion}, alias champion")
    story.add_row("deployed", f"deployment/{DEPLOYMENT} follows models:/{training.MODEL_NAME}@champion")
    story.add_row("normal traffic", f"{o.normal_windows} monitor windows, no drift")
    drifted = ", ".join(o.drifted_features) or "-"
    story.add_row("shifted traffic", f"monitor/{MONITOR} flagged drift: share {o.drift_share:.2f} ({drifted})")
    story.add_row("retrained", f"v{o.retrained} from fresh labelled data, by the monitor's command action")
    story.add_row("canary", f"v{o.retrained} got {o.canary_share:.0%} of live traffic (configured {CANARY_PERCENT}%)")
    for version, (n, accuracy) in o.accuracy.items():
        role = "canary" if version == o.retrained else "champion" if version == o.champion else version
        story.add_row(f"live accuracy v{version}", f"{accuracy:.3f} on {n} labelled requests ({role})")
    if o.monitored_accuracy is not None:
        story.add_row("monitor's accuracy", f"{o.monitored_accuracy:.3f} live, from labels posted to /api/v1/feedback")
    verdict = (
        f"v{o.retrained} promoted: champion → v{o.retrained}"
        if o.promoted
        else f"canary not better: champion stays v{o.champion}"
    )
    story.add_row("decision", verdict)
    story.add_row("failed requests", str(o.failed_requests))
    console.print(story)
    console.print(f"Drift report (opens offline): [cyan]{o.report}[/]")
    console.print(f"Everything is stored under {o.home}; done in {o.seconds:.0f}s. To look around:")
    console.print("  cnai up &    # then open http://127.0.0.1:8080/ : runs, models, deployments, monitors")
    console.print(f"  cnai runs list --experiment {training.EXPERIMENT}   cnai models show {training.MODEL_NAME}")
    console.print(f"  cnai get deployments   cnai describe monitor {MONITOR}")
