"""RunStore on SQLite: the write rules MLflow clients rely on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.errors import InvalidArgument, NotFound
from cnai.tracking.experiments import ExperimentStore
from cnai.tracking.metrics import MetricPoint
from cnai.tracking.runs import RunStore


@pytest.fixture
def stores(tmp_path: Path) -> tuple[ExperimentStore, RunStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    upgrade(engine)
    experiments = ExperimentStore(engine)
    experiments.ensure_default()
    return experiments, RunStore(engine)


@pytest.fixture
def run_id(stores: tuple[ExperimentStore, RunStore]) -> str:
    experiments, runs = stores
    exp_id = experiments.create("e", None, [])
    return str(runs.create(exp_id, "ana", 1000, [("k", "v")], "my-run")["info"]["run_id"])


def test_default_experiment_exists_once(stores: tuple[ExperimentStore, RunStore]) -> None:
    experiments, _ = stores
    experiments.ensure_default()
    assert experiments.get("0")["name"] == "Default"
    found, _ = experiments.search("ALL", None, None, 100, None)
    assert [e["name"] for e in found] == ["Default"]


def test_create_sets_name_tag_and_user(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    run = stores[1].get(run_id)
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert run["info"]["run_name"] == "my-run"
    assert tags == {"k": "v", "mlflow.runName": "my-run", "mlflow.user": "ana"}
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/1/{run_id}/artifacts"


def test_latest_metric_is_highest_step_then_timestamp(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    runs = stores[1]
    runs.log_batch(
        run_id,
        [MetricPoint("m", 5.0, 100, 2), MetricPoint("m", 9.0, 50, 1), MetricPoint("m", 7.0, 200, 2)],
        [],
        [],
    )
    runs.log_metric(run_id, MetricPoint("m", 1.0, 10, 0))  # older step: does not replace
    [metric] = runs.get(run_id)["data"]["metrics"]
    assert (metric["value"], metric["step"], metric["timestamp"]) == (7.0, 2, 200)


def test_non_finite_values_round_trip_as_proto_json(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    runs = stores[1]
    runs.log_batch(run_id, [MetricPoint("nan", math.nan, 1, 0), MetricPoint("inf", -math.inf, 1, 0)], [], [])
    values = {m["key"]: m["value"] for m in runs.get(run_id)["data"]["metrics"]}
    assert values == {"nan": "NaN", "inf": "-Infinity"}
    history, _ = runs.metric_history(run_id, "nan", None, None)
    assert history[0]["value"] == "NaN"


def test_params_are_write_once(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    runs = stores[1]
    runs.log_param(run_id, "lr", "0.1")
    runs.log_param(run_id, "lr", "0.1")
    with pytest.raises(InvalidArgument, match="Changing param values is not allowed"):
        runs.log_param(run_id, "lr", "0.2")
    with pytest.raises(InvalidArgument, match="Duplicate parameter"):
        runs.log_batch(run_id, [], [("a", "1"), ("a", "2")], [])
    assert runs.get(run_id)["data"]["params"] == [{"key": "lr", "value": "0.1"}]


def test_batch_is_all_or_nothing(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    runs = stores[1]
    with pytest.raises(InvalidArgument):
        runs.log_batch(run_id, [MetricPoint("ok", 1.0, 1, 0), MetricPoint("bad/../x", 1.0, 1, 0)], [("p", "1")], [])
    run = runs.get(run_id)
    assert run["data"]["metrics"] == []
    assert run["data"]["params"] == []


def test_deleted_run_refuses_writes(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    runs = stores[1]
    runs.set_lifecycle(run_id, "deleted")
    with pytest.raises(InvalidArgument, match="active"):
        runs.log_metric(run_id, MetricPoint("m", 1.0, 1, 0))
    runs.set_lifecycle(run_id, "active")
    runs.log_metric(run_id, MetricPoint("m", 1.0, 1, 0))


def test_history_pages(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    runs = stores[1]
    runs.log_batch(run_id, [MetricPoint("h", float(i), i, i) for i in range(25)], [], [])
    first, token = runs.metric_history(run_id, "h", 10, None)
    second, token2 = runs.metric_history(run_id, "h", 10, token)
    third, token3 = runs.metric_history(run_id, "h", 10, token2)
    assert [p["step"] for p in first + second + third] == list(range(25))
    assert token3 is None


def test_unknown_run(stores: tuple[ExperimentStore, RunStore]) -> None:
    with pytest.raises(NotFound):
        stores[1].get("f" * 32)
    with pytest.raises(InvalidArgument):
        stores[1].get("../../etc")


def test_update_reopens_and_renames(stores: tuple[ExperimentStore, RunStore], run_id: str) -> None:
    runs = stores[1]
    info = runs.update(run_id, "FINISHED", 5000, None)
    assert (info["status"], info["end_time"]) == ("FINISHED", 5000)
    info = runs.update(run_id, "RUNNING", None, "new-name")
    assert info["status"] == "RUNNING"
    assert "end_time" not in info
    assert info["run_name"] == "new-name"
    with pytest.raises(InvalidArgument, match="status"):
        runs.update(run_id, "EXPLODED", None, None)
