"""`cnai db`: the control-plane database."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from sqlalchemy import Engine

from cnai.cli._common import build_settings, console, guarded
from cnai.errors import Unavailable

T = TypeVar("T")

app = typer.Typer(help="Manage the control-plane database.", no_args_is_help=True)


@app.command()
def upgrade(
    store: str = typer.Option(None, help="Metadata store URL. [default: CNAI_STORE or sqlite under CNAI_HOME]"),
) -> None:
    """Apply pending schema migrations (the server also does this on start)."""
    from cnai.db.engine import make_engine
    from cnai.db.migrate import current_revision
    from cnai.db.migrate import upgrade as run_upgrade

    settings = build_settings(store=store)
    engine = guarded(lambda: make_engine(settings.store))
    before = guarded(lambda: _revision(engine, current_revision))
    guarded(lambda: _revision(engine, run_upgrade))
    after = current_revision(engine)
    if before == after:
        console.print(f"Database already at revision [bold]{after}[/].")
    else:
        console.print(f"Upgraded database from [bold]{before or 'empty'}[/] to [bold]{after}[/].")


def _revision(engine: Engine, action: Callable[[Engine], T]) -> T:
    """Run a migration step; an unreachable database becomes one readable error line."""
    from sqlalchemy.exc import OperationalError

    from cnai.db.engine import connect_failure

    try:
        return action(engine)
    except OperationalError as exc:
        raise Unavailable(connect_failure(engine.url, exc)) from None
