"""`cnai tokens` (named API tokens, on the metadata store directly) and `cnai audit` (through the API).

`cnai tokens` needs no running server: whoever can open the store already holds every secret
that matters, and the first admin token has to come from somewhere. Servers sharing the store
see a new or revoked token within their cache TTL (CNAI_TOKEN_CACHE_SECONDS, 5 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cnai.cli._client import ApiClient
from cnai.cli._common import build_settings, console, fail, guarded, print_json
from cnai.cli._format import when
from cnai.errors import Unavailable

if TYPE_CHECKING:
    from cnai.auth.tokens import TokenStore

app = typer.Typer(help="Named API tokens with a role (reader, editor, admin).", no_args_is_help=True)

STORE_HELP = "Metadata store URL. [env: CNAI_STORE; default: sqlite under CNAI_HOME]"


def _store(store: str | None) -> TokenStore:
    """The token store of ``--store`` (else CNAI_STORE / CNAI_HOME), migrated like a server does
    on start: the tokens table may not exist yet."""
    from sqlalchemy.exc import OperationalError

    from cnai.auth.tokens import TokenStore
    from cnai.db.engine import make_engine
    from cnai.db.migrate import upgrade

    settings = build_settings(store=store)
    engine = guarded(lambda: make_engine(settings.store))

    def migrate() -> None:
        try:
            upgrade(engine)
        except OperationalError as exc:
            raise Unavailable(f"Cannot reach the database: {str(exc.orig).strip().splitlines()[0]}") from None

    guarded(migrate)
    return TokenStore(engine, ttl_seconds=0)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="A name for the token's holder, e.g. ci or alice."),
    role: str = typer.Option("reader", help="reader (GET and searches), editor (writes) or admin (tokens, audit)."),
    store: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Create a token and print it once: it is stored hashed and cannot be shown again."""
    from cnai.auth import Role

    try:
        parsed = Role.parse(role)
    except ValueError as exc:
        fail(str(exc))
        raise  # unreachable
    info, plaintext = guarded(lambda: _store(store).create(name, parsed))
    console.print(f"Created {info.role.label} token [bold]{info.name}[/]. Copy it now, it is not shown again:")
    typer.echo(plaintext)
    console.print(
        "  use it as MLFLOW_TRACKING_TOKEN (mlflow client) or CNAI_AUTH_TOKEN (cnai CLI); "
        "servers on this store require tokens from now on."
    )


@app.command("list")
def list_tokens(
    show_revoked: bool = typer.Option(False, "--all", help="Include revoked tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    store: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """List tokens (names and roles; never the secrets)."""
    found = guarded(lambda: _store(store).list(include_revoked=show_revoked))
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    if not found:
        console.print("No tokens: servers on this store need none on loopback (create one with `cnai tokens create`).")
        return
    table = Table("NAME", "ROLE", "ID", "CREATED", "REVOKED")
    for t in found:
        table.add_row(t.name, t.role.label, t.token_id, when(t.created_at), when(t.revoked_at))
    console.print(table)


@app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="The token's name."),
    store: str = typer.Option(None, help=STORE_HELP),
) -> None:
    """Revoke a token: every server on this store refuses it within its cache TTL (5 s by default)."""
    info = guarded(lambda: _store(store).revoke(name))
    console.print(f"Revoked token [bold]{info.name}[/] ({info.role.label}).")


def audit(
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="Show the newest N entries."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    tracking_uri: str = typer.Option(None, help="Control plane URL. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI]"),
) -> None:
    """Show the control plane's audit log of writes, newest first (needs an admin token in CNAI_AUTH_TOKEN)."""
    api = ApiClient(build_settings(tracking_uri=tracking_uri))
    entries = api.v1("GET", f"audit?limit={limit}")["entries"]
    if as_json:
        print_json(entries)
        return
    table = Table("TIME", "WHO", "ROLE", "METHOD", "PATH", "STATUS", "CLIENT")
    for e in entries:
        table.add_row(when(e["ts"]), e["principal"], e["role"], e["method"], e["path"], str(e["status"]), e["client"])
    console.print(table)
