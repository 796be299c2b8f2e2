"""Runs, params, metrics, tags, datasets and search through the stock mlflow client."""

from __future__ import annotations

import math
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.integration


def test_create_get_update_end(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id, run_name="first", tags={"owner": "ana"})
    assert run.info.status == "RUNNING"
    assert run.info.run_name == "first"
    got = client.get_run(run.info.run_id)
    assert got.data.tags["owner"] == "ana"
    assert got.data.tags["mlflow.runName"] == "first"
    assert got.info.artifact_uri.endswith(f"{run.info.run_id}/artifacts")
    client.update_run(run.info.run_id, name="renamed")
    assert client.get_run(run.info.run_id).info.run_name == "renamed"
    client.set_terminated(run.info.run_id, status="FINISHED")
    done = client.get_run(run.info.run_id)
    assert done.info.status == "FINISHED"
    assert done.info.end_time is not None
    assert done.info.end_time >= done.info.start_time


def test_fluent_run_reopen(client: MlflowClient, experiment_id: str) -> None:
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("alpha", 0.5)
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    with mlflow.start_run(run_id=run.info.run_id):
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
        mlflow.log_metric("later", 1.0)
    reopened = client.get_run(run.info.run_id)
    assert reopened.info.status == "FINISHED"
    assert reopened.data.metrics["later"] == 1.0


def test_delete_and_restore(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert run_id not in {r.info.run_id for r in client.search_runs([experiment_id])}
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert run_id in {r.info.run_id for r in deleted}
    with pytest.raises(MlflowException, match="active"):
        client.log_metric(run_id, "m", 1.0)
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_tags_params_metrics(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.set_tag(run_id, "k", "v1")
    client.set_tag(run_id, "k", "v2")
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # same value again: allowed
    with pytest.raises(MlflowException, match="Changing param values is not allowed") as info:
        client.log_param(run_id, "lr", "0.2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    client.log_metric(run_id, "loss", 0.5, step=0)
    client.log_metric(run_id, "loss", 0.25, step=1)
    client.log_metric(run_id, "odd", float("nan"))
    client.log_metric(run_id, "big", float("inf"))
    run = client.get_run(run_id)
    assert run.data.tags["k"] == "v2"
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics["loss"] == 0.25
    assert math.isnan(run.data.metrics["odd"])
    assert run.data.metrics["big"] == math.inf
    client.delete_tag(run_id, "k")
    assert "k" not in client.get_run(run_id).data.tags


def test_log_batch_and_history_exact_values(client: MlflowClient, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    now = int(time.time() * 1000)
    values = [1 / 3 * i + 1e-12 for i in range(1000)]
    client.log_batch(
        run_id,
        metrics=[Metric("acc", v, now + i, i) for i, v in enumerate(values)],
        params=[Param(f"p{i}", str(i)) for i in range(10)],
        tags=[RunTag("batch", "yes")],
    )
    history = client.get_metric_history(run_id, "acc")
    assert [m.value for m in history] == values  # full double precision, in step order
    assert [m.step for m in history] == list(range(1000))
    run = client.get_run(run_id)
    assert run.data.metrics["acc"] == values[-1]
    assert len(run.data.params) == 10
    assert run.data.tags["batch"] == "yes"


def test_log_inputs_dataset(client: MlflowClient, experiment_id: str) -> None:
    df = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) * 2})
    dataset = mlflow.data.from_pandas(df, name="train-set", targets="y")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_input(dataset, context="training")
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "train-set"
    assert inputs[0].dataset.digest == dataset.digest
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"


def test_search_runs_filter_order_pages(client: MlflowClient, experiment_id: str) -> None:
    ids = []
    for i in range(6):
        run = client.create_run(experiment_id, run_name=f"r{i}", tags={"group": "a" if i < 3 else "b"})
        client.log_batch(run.info.run_id, metrics=[Metric("acc", i / 10, 0, 0)], params=[Param("depth", str(i))])
        ids.append(run.info.run_id)
    found = client.search_runs([experiment_id], "metrics.acc >= 0.3", order_by=["metrics.acc DESC"])
    assert [r.info.run_id for r in found] == [ids[5], ids[4], ids[3]]
    found = client.search_runs([experiment_id], "params.depth = '2' and tags.group = 'a'")
    assert [r.info.run_id for r in found] == [ids[2]]
    found = client.search_runs([experiment_id], "attributes.run_name = 'r4'")
    assert [r.info.run_id for r in found] == [ids[4]]
    page = client.search_runs([experiment_id], "", order_by=["metrics.acc ASC"], max_results=4)
    assert [r.info.run_id for r in page] == ids[:4]
    assert page.token
    rest = client.search_runs([experiment_id], "", order_by=["metrics.acc ASC"], max_results=4, page_token=page.token)
    assert [r.info.run_id for r in rest] == ids[4:]
    assert not rest.token
    frame = mlflow.search_runs([experiment_id], filter_string="metrics.acc < 0.2")
    assert set(frame["run_id"]) == {ids[0], ids[1]}


def test_bad_filter_is_a_client_error(client: MlflowClient, experiment_id: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.search_runs([experiment_id], "metrics.acc >>> 1")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_unknown_run_is_404(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as info:
        client.get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_refused_batches_write_nothing(client: MlflowClient, experiment_id: str) -> None:
    """A batch is all or nothing: a changed param, or a deleted run, leaves no metric, tag or param."""
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "lr", "0.1")
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):
        client.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 0, 0)],
            params=[Param("new", "x"), Param("lr", "0.2")],
            tags=[RunTag("t", "v"), RunTag("mlflow.runName", "renamed")],
        )
    client.delete_run(run_id)
    with pytest.raises(MlflowException, match="active"):
        client.log_batch(run_id, metrics=[Metric("m", 2.0, 0, 0)], tags=[RunTag("t", "v")])
    client.restore_run(run_id)
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {}
    assert "t" not in run.data.tags
    assert run.info.run_name != "renamed"
    assert run.data.tags["mlflow.runName"] == run.info.run_name
    assert client.get_metric_history(run_id, "m") == []
