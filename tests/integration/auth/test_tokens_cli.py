"""`cnai tokens create/list/revoke` on the store (no server running), `cnai audit` through the
API, and `cnai server --host 0.0.0.0` accepted once the store holds a token."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cnai.auth.principal import Principal, Role
from cnai.auth.tokens import TokenStore
from cnai.cli.main import app
from cnai.db.engine import make_engine
from cnai.settings import Settings
from tests.fixtures.servers import start_live_server

pytestmark = pytest.mark.integration
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "300", **(env or {})})
    return result.exit_code, result.output


def test_create_list_revoke_round_trip(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cnai.db'}"  # not created yet: the command migrates it
    code, out = invoke("tokens", "create", "ci", "--role", "editor", "--store", store)
    assert code == 0, out
    token = next(line for line in out.splitlines() if line.startswith("cnai_"))
    assert "not shown again" in out
    engine = make_engine(store)
    assert TokenStore(engine).authenticate(token) == Principal("ci", Role.EDITOR)

    code, out = invoke("tokens", "list", "--store", store)
    assert code == 0
    assert "ci" in out
    assert "editor" in out
    assert token.rsplit("_", 1)[1] not in out
    code, out = invoke("tokens", "list", "--json", "--store", store)
    assert [(t["name"], t["role"]) for t in json.loads(out)] == [("ci", "editor")]

    code, out = invoke("tokens", "create", "ci", "--store", store)
    assert code == 1
    assert "revoke it first" in out
    code, out = invoke("tokens", "revoke", "ci", "--store", store)
    assert code == 0
    assert "Revoked token ci" in out
    assert TokenStore(engine).authenticate(token) is None
    code, out = invoke("tokens", "revoke", "ci", "--store", store)
    assert (code, out.count("\n")) == (1, 1)
    assert "No active token named 'ci'" in out
    code, out = invoke("tokens", "list", "--store", store)
    assert "No tokens" in out
    engine.dispose()


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cnai.db'}"
    for args, message in [
        (("tokens", "create", "x", "--role", "root"), "unknown role 'root'"),
        (("tokens", "create", "bootstrap"), "reserved"),
        (("tokens", "create", "a b"), "Invalid token name"),
    ]:
        code, out = invoke(*args, "--store", store)
        assert (code, out.count("\n")) == (1, 1), out
        assert message in out


def test_a_token_in_the_store_allows_a_public_bind(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, host="0.0.0.0")
    code, out = invoke("server", "--host", "0.0.0.0", "--home", str(tmp_path))
    assert code == 1
    assert "cnai tokens create" in out
    assert invoke("tokens", "create", "ops", "--role", "admin", "--store", settings.store)[0] == 0
    settings.check_bind_is_safe()  # what `cnai server` checks before it binds


def test_audit_command(tmp_path: Path) -> None:
    server = start_live_server(Settings(home=tmp_path))
    try:
        _, admin = server.server_app_plane().tokens.create("root", Role.ADMIN)
        _, reader = server.server_app_plane().tokens.create("viewer", Role.READER)
        refused = httpx.post(
            f"{server.url}/api/2.0/mlflow/experiments/create",
            json={"name": "nope"},
            headers={"Authorization": f"Bearer {reader}"},
        )
        assert refused.status_code == 403
        code, out = invoke("audit", "--json", "--tracking-uri", server.url, env={"CNAI_AUTH_TOKEN": admin})
        assert code == 0, out
        entries = json.loads(out)
        assert entries[0]["principal"] == "viewer"
        assert entries[0]["status"] == 403
        code, out = invoke("audit", "--limit", "5", "--tracking-uri", server.url, env={"CNAI_AUTH_TOKEN": admin})
        assert code == 0
        assert "viewer" in out
        assert "/api/2.0/mlflow/experiments/create" in out
        code, out = invoke("audit", "--tracking-uri", server.url, env={"CNAI_AUTH_TOKEN": reader})
        assert code == 1
        assert "needs the admin role" in out
    finally:
        server.stop()
