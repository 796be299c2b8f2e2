"""`cnai db`: the control-plane database."""

from __future__ import annotations

import typer

from cnai.cli._common import build_settings, console, guarded

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
    before = current_revision(engine)
    run_upgrade(engine)
    after = current_revision(engine)
    if before == after:
        console.print(f"Database already at revision [bold]{after}[/].")
    else:
        console.print(f"Upgraded database from [bold]{before or 'empty'}[/] to [bold]{after}[/].")
