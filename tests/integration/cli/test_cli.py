"""The CLI as a user runs it: help, wrong flags, the views against a live control plane."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from alembic.script import ScriptDirectory
from mlflow import MlflowClient
from typer.testing import CliRunner

from cnai.cli.main import app
from cnai.db.engine import make_engine
from cnai.db.migrate import alembic_config
from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, free_port, start_live_server

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    server = start_live_server(Settings(home=tmp_path_factory.mktemp("cli")))
    mlflow.set_tracking_uri(server.url)
    client = MlflowClient(server.url)
    exp_id = client.create_experiment("cli-exp")
    run_id = ""
    for i in range(3):
        with mlflow.start_run(experiment_id=exp_id, run_name=f"cli-run-{i}") as run:
            mlflow.log_params({"depth": str(i)})
            mlflow.log_metric("acc", 0.5 + i / 10)
            run_id = run.info.run_id
    client.create_registered_model("cli-model", description="for the CLI")
    client.create_model_version("cli-model", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("cli-model", "champion", "1")
    yield server, run_id
    server.stop()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_help_explains_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("server", "quickstart", "experiments", "runs", "models", "db"):
        assert command in out
    code, out = invoke("server", "--help")
    assert code == 0
    assert "--store" in out
    assert "MLFLOW_TRACKING_URI" in out


def test_wrong_flag_is_a_usage_error() -> None:
    code, out = invoke("server", "--prot", "1")
    assert code == 2
    assert "No such option" in out


def test_public_bind_without_auth_is_refused(tmp_path: Path) -> None:
    code, out = invoke("server", "--host", "0.0.0.0", "--home", str(tmp_path))
    assert code == 1
    assert "without authentication" in out


def test_unreachable_server_message() -> None:
    code, out = invoke("experiments", "list", "--tracking-uri", f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert "No cnai server answers" in out


def test_experiments_and_runs_views(populated: tuple[LiveServer, str]) -> None:
    server, run_id = populated
    code, out = invoke("experiments", "list", "--tracking-uri", server.url)
    assert code == 0
    assert "cli-exp" in out
    code, out = invoke("experiments", "list", "--json", "--tracking-uri", server.url)
    assert {e["name"] for e in json.loads(out)} >= {"Default", "cli-exp"}
    code, out = invoke(
        "runs", "list", "-e", "cli-exp", "--filter", "metrics.acc > 0.55", "--json", "--tracking-uri", server.url
    )
    assert code == 0
    assert sorted(r["info"]["run_name"] for r in json.loads(out)) == ["cli-run-1", "cli-run-2"]
    code, out = invoke("runs", "list", "-e", "cli-exp", "--tracking-uri", server.url)
    assert "cli-run-0" in out
    assert "acc" in out
    code, out = invoke("runs", "show", run_id, "--tracking-uri", server.url)
    assert code == 0
    assert "depth" in out
    assert "cli-run-2" in out
    code, out = invoke("runs", "show", "f" * 32, "--tracking-uri", server.url)
    assert code == 1
    assert "RESOURCE_DOES_NOT_EXIST" in out
    code, out = invoke("runs", "list", "--filter", "metrics.acc >>> 1", "--tracking-uri", server.url)
    assert code == 1
    assert "INVALID_PARAMETER_VALUE" in out


def test_models_views(populated: tuple[LiveServer, str]) -> None:
    server, _ = populated
    code, out = invoke("models", "list", "--tracking-uri", server.url)
    assert code == 0
    assert "cli-model" in out
    assert "champion" in out
    code, out = invoke("models", "show", "cli-model", "--json", "--tracking-uri", server.url)
    data = json.loads(out)
    assert data["registered_model"]["description"] == "for the CLI"
    assert [v["aliases"] for v in data["model_versions"]] == [["champion"]]
    code, out = invoke("models", "show", "no-such-model", "--tracking-uri", server.url)
    assert code == 1


def test_db_upgrade(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'x.db'}"
    code, out = invoke("db", "upgrade", "--store", store)
    assert code == 0
    head = ScriptDirectory.from_config(alembic_config(make_engine(store))).get_current_head()
    assert f"from empty to {head}" in out
    code, out = invoke("db", "upgrade", "--store", store)
    assert "already at revision" in out
    code, out = invoke("db", "upgrade", "--store", "mysql://nope")
    assert code == 1
    assert "Unsupported store" in out
