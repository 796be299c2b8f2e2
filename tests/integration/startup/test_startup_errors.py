"""A start that cannot succeed says why in one line, and never first claims the server is up.

Before: `cnai serve models:/nope/1` printed "cnai serve nope on http://…" and then a 27-line
traceback; `cnai server` on a PostgreSQL database that does not exist printed its banner and 165
lines; a port in use was found only after the migrations ran.
"""

from __future__ import annotations

import socket
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, start_live_server
from tests.fixtures.serving_models import save_logistic
from tests.integration.startup.conftest import clean_env, cnai, one_line_error

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_live_server(Settings(home=tmp_path_factory.mktemp("plane")))
    yield live
    live.stop()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def test_serve_a_model_the_registry_does_not_have(plane: LiveServer, home: Path) -> None:
    done = cnai("serve", "models:/nope/1", "--port", "0", env=clean_env(home, MLFLOW_TRACKING_URI=plane.url))
    assert one_line_error(done) == (
        f"Error: Model 'nope' version 1 not found in the registry at {plane.url}: check `cnai models list`"
    )


def test_serve_an_alias_the_registry_does_not_have(plane: LiveServer, home: Path) -> None:
    done = cnai("serve", "models:/nope@champion", "--port", "0", env=clean_env(home, CNAI_TRACKING_URI=plane.url))
    assert "alias 'champion' not found in the registry" in one_line_error(done)


def test_serve_a_registry_model_without_a_control_plane(home: Path, taken_port: int) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    done = cnai("serve", "models:/wine/1", "--port", "0", env=clean_env(home, MLFLOW_TRACKING_URI=nobody))
    line = one_line_error(done)
    assert line.startswith(f"Error: No control plane answers at {nobody}")
    assert "cnai up" in line


def test_serve_a_directory_that_is_not_a_model(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"not an MLflow model")
    line = one_line_error(cnai("serve", str(folder), "--port", "0", env=clean_env(home)))
    assert line.startswith(f"Error: No MLflow model at {folder} (no MLmodel file)")


def test_serve_a_model_that_cannot_be_loaded(home: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():  # mlflow's hint about integer columns: intended here
        warnings.simplefilter("ignore", UserWarning)
        model = save_logistic(tmp_path / "broken")
    for weights in model.glob("model.*"):
        weights.write_bytes(b"garbage")
    line = one_line_error(cnai("serve", str(model), "--port", "0", env=clean_env(home)))
    assert line.startswith("Error: Model 'broken' failed to load: ")


def test_serve_with_several_workers_checks_the_model_first(home: Path, tmp_path: Path) -> None:
    done = cnai("serve", str(tmp_path / "missing"), "--workers", "2", "--port", "0", env=clean_env(home))
    line = one_line_error(done)
    assert line.startswith(f"Error: No MLflow model at {tmp_path / 'missing'}")


def test_server_on_a_postgres_database_that_does_not_exist(home: Path) -> None:
    name = f"cnai_missing_{uuid.uuid4().hex[:8]}"
    store = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    done = cnai("server", "--store", store, "--port", "0", env=clean_env(home))
    assert one_line_error(done) == (
        f"Error: PostgreSQL database '{name}' does not exist on 127.0.0.1:5432: "
        f"create it with `createdb -h 127.0.0.1 -U postgres {name}`"
    )


@pytest.mark.parametrize(("command", "says"), [("server", "for the SQLite store"), ("up", "lock file")])
def test_a_sqlite_path_that_cannot_be_created(command: str, says: str, home: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    done = cnai(command, "--store", f"sqlite:///{a_file / 'sub' / 'cnai.db'}", "--port", "0", env=clean_env(home))
    line = one_line_error(done)
    assert line.startswith("Error: Cannot create ")
    assert says in line
    assert "Not a directory" in line


@pytest.mark.parametrize("command", ["server", "up"])
def test_a_port_in_use_is_reported_before_the_migrations(command: str, home: Path, taken_port: int) -> None:
    done = cnai(command, "--port", str(taken_port), env=clean_env(home))
    assert one_line_error(done) == f"Error: Port {taken_port} on 127.0.0.1 is in use (by another cnai?): choose --port"
    assert not (home / "cnai.db").exists()  # nothing was migrated (or locked, or started) first


def test_serve_reports_a_port_in_use_before_fetching_models(plane: LiveServer, home: Path, taken_port: int) -> None:
    env = clean_env(home, MLFLOW_TRACKING_URI=plane.url)
    done = cnai("serve", "models:/nope/1", "--port", str(taken_port), env=env)
    assert one_line_error(done) == f"Error: Port {taken_port} on 127.0.0.1 is in use (by another cnai?): choose --port"


def test_a_host_that_is_not_this_machine(home: Path) -> None:
    done = cnai("server", "--host", "192.0.2.1", "--insecure", "--port", "0", env=clean_env(home))
    assert one_line_error(done) == "Error: 192.0.2.1 is not an address of this machine: choose --host"
