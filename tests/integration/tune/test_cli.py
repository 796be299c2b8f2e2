"""`cnai tune` from the command line: the --json contract against a live server (read back with
the stock mlflow client), `cnai tune show`, and bad input as one line without a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cnai.settings import Settings
from tests.fixtures.servers import LiveServer, start_live_server
from tests.integration.tune.conftest import OBJECTIVES, objective

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("tune-server")
    live = start_live_server(Settings(home=home))
    yield live
    live.stop()


def _cnai(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CNAI_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    env.update(PYTHONPATH=SRC, CNAI_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "cnai.cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _space(tmp_path: Path, spec: dict[str, object]) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_json_contract_against_a_live_server_read_back_with_the_stock_client(
    server: LiveServer, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    space = _space(tmp_path, {"x": {"type": "float", "low": -3, "high": 5}, "n": {"type": "int", "low": 1, "high": 3}})
    done = _cnai(
        tmp_path, "tune", objective("quadratic"), "--space", space, "--trials", "6", "--workers", "2",
        "--direction", "maximize", "--pruner", "none", "--study", "contract", "--tracking-uri", server.url, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= {"study", "best_value", "best_params", "trials", "run_id"}
    assert out["study"] == "contract"
    assert out["trials"] == 6
    assert set(out["best_params"]) == {"x", "n"}

    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name(out.get("experiment", "contract"))
    assert experiment is not None
    parent = client.get_run(out["run_id"])
    assert parent.info.experiment_id == experiment.experiment_id
    assert parent.info.status == "FINISHED"
    assert float(parent.data.metrics["best_value"]) == pytest.approx(out["best_value"])
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{out['run_id']}'"
    )
    assert len(children) == 6
    for child in children:
        assert set(child.data.params) == {"x", "n"}
        assert child.data.metrics["value"] == pytest.approx(-((float(child.data.params["x"]) - 2) ** 2))
    best = max(children, key=lambda r: r.data.metrics["value"])
    assert best.data.metrics["value"] == pytest.approx(out["best_value"])
    history = client.get_metric_history(best.info.run_id, "intermediate_value")
    assert [m.step for m in history] == [0, 1, 2]


def test_show_lists_the_trials_best_first(tmp_path: Path) -> None:
    space = _space(tmp_path, {"x": {"type": "int", "low": 0, "high": 5}})
    ran = _cnai(
        tmp_path, "tune", objective("raises_on_three"), "--space", space, "--trials", "6", "--sampler", "grid",
        "--pruner", "none", "--study", "shown",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "best value" in ran.stdout
    shown = _cnai(tmp_path, "tune", "show", "shown", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert [t["value"] for t in data["trials"]][:5] == [5.0, 4.0, 2.0, 1.0, 0.0]
    assert data["trials"][-1]["state"] == "failed"
    assert "x=3" in data["trials"][-1]["error"]
    table = _cnai(tmp_path, "tune", "show", "shown")
    assert table.returncode == 0
    assert "complete" in table.stdout
    assert "failed" in table.stdout


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_a_space_file_with_an_unknown_type_is_one_line(tmp_path: Path) -> None:
    space = _space(tmp_path, {"x": {"type": "complex", "low": 0, "high": 1}})
    line = _one_line_error(_cnai(tmp_path, "tune", objective("quadratic"), "--space", space, "--trials", "2"))
    assert "unknown type 'complex'" in line
    assert "float, int, categorical" in line


def test_an_objective_that_cannot_be_imported_is_one_line(tmp_path: Path) -> None:
    space = _space(tmp_path, {"x": {"type": "float", "low": 0, "high": 1}})
    broken = f"{OBJECTIVES.parent / 'broken_objective.py'}:objective"
    line = _one_line_error(_cnai(tmp_path, "tune", broken, "--space", space, "--trials", "2", "--workers", "2"))
    assert "this_module_does_not_exist" in line
    assert "ModuleNotFoundError" in line
    missing = _one_line_error(_cnai(tmp_path, "tune", "no_such_module_xyz:objective", "--space", space))
    assert "no_such_module_xyz" in missing
    no_function = _one_line_error(_cnai(tmp_path, "tune", f"{OBJECTIVES}:nope", "--space", space))
    assert "has no function 'nope'" in no_function


def test_an_unreachable_tracking_server_stops_the_study_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    space = _space(tmp_path, {"x": {"type": "float", "low": 0, "high": 1}})
    ran = _cnai(
        tmp_path, "tune", objective("quadratic"), "--space", space, "--trials", "50", "--workers", "2",
        "--pruner", "none", "--study", "nowhere", "--tracking-uri", f"http://127.0.0.1:{port}",
    )  # fmt: skip
    line = _one_line_error(ran)
    assert "No tracking server answers" in line


def test_workers_do_not_import_the_cli(tmp_path: Path) -> None:
    space = _space(tmp_path, {"x": {"type": "int", "low": 0, "high": 3}})
    done = _cnai(
        tmp_path, "tune", objective("cli_modules_loaded"), "--space", space, "--trials", "4", "--workers", "2",
        "--sampler", "grid", "--pruner", "none", "--study", "lean", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["best_value"] == 0.0


def test_show_of_an_unknown_study_is_one_line(tmp_path: Path) -> None:
    assert "No study 'nothing'" in _one_line_error(_cnai(tmp_path, "tune", "show", "nothing"))
