"""`cnai quickstart`: the whole lifecycle in one command, on embedded defaults."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from cnai.cli._common import build_settings, fail, guarded

# Bound to the real stdout now: the quickstart silences mlflow's own prints around its steps.
console = Console(file=sys.stdout)


def quickstart(
    home: Path = typer.Option(
        None, help="Where the embedded store and artifacts live. [env: CNAI_HOME; default: ~/.cnai]"
    ),
) -> None:
    """Train, register, deploy, watch, retrain and roll out a model: the whole loop, in under a minute.

    Starts a private `cnai up` (SQLite, local files, embedded event log under CNAI_HOME), then acts as a user would: a small sweep on scikit-learn's wine dataset tracked with the mlflow client; the best model registered and aliased `champion`; deployed behind a router with a drift monitor; normal traffic, then wines from a new supplier; the monitor flags drift and its action retrains on fresh labelled data; the new version goes out as a 20% canary, is compared live and promoted.

    Run it again at will; afterwards `cnai up` shows the same runs and models.
    """
    try:
        import mlflow  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        fail("The quickstart needs mlflow and scikit-learn: run `make venv` (or pip install 'cnai[dev]').")
    from cnai.db import lock as store_lock
    from cnai.errors import CnaiError
    from cnai.quickstart import story, summary

    settings = build_settings(home=home)
    # Before anything is reset: a `cnai up` running on this home keeps its resources and
    # replicas, and the quickstart says so. Its private `cnai up` is handed the lock.
    lock = guarded(lambda: store_lock.acquire(f"sqlite:///{settings.home / 'cnai.db'}", holder="cnai quickstart"))
    try:
        with lock:
            outcome = story.run(settings.home, console)
    except CnaiError as exc:
        fail(f"{exc.message}\n  The control plane's log: {settings.home / 'quickstart' / 'cnai-up.log'}")
        return
    summary.render(outcome, console)
