"""Experiments through the stock mlflow client, against every backend."""

from __future__ import annotations

import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.integration


def _name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_get_and_get_by_name(client: MlflowClient) -> None:
    name = _name()
    exp_id = client.create_experiment(name, tags={"team": "search"})
    exp = client.get_experiment(exp_id)
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.tags["team"] == "search"
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    assert client.get_experiment_by_name(_name("missing")) is None


def test_duplicate_name_is_rejected(client: MlflowClient) -> None:
    name = _name()
    client.create_experiment(name)
    with pytest.raises(MlflowException, match="already exists") as info:
        client.create_experiment(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_set_experiment_creates_then_reuses(client: MlflowClient) -> None:
    name = _name()
    first = mlflow.set_experiment(name)
    again = mlflow.set_experiment(name)
    assert first.experiment_id == again.experiment_id


def test_rename_delete_restore(client: MlflowClient) -> None:
    exp_id = client.create_experiment(_name())
    new_name = _name("renamed")
    client.rename_experiment(exp_id, new_name)
    assert client.get_experiment(exp_id).name == new_name
    run = client.create_run(exp_id)
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert exp_id in {e.experiment_id for e in deleted}
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_tags_set_and_delete(client: MlflowClient) -> None:
    exp_id = client.create_experiment(_name())
    client.set_experiment_tag(exp_id, "stage", "dev")
    client.set_experiment_tag(exp_id, "stage", "prod")
    assert client.get_experiment(exp_id).tags["stage"] == "prod"
    client.delete_experiment_tag(exp_id, "stage")
    assert "stage" not in client.get_experiment(exp_id).tags


def test_search_filter_order_and_pages(client: MlflowClient) -> None:
    prefix = f"srch-{uuid.uuid4().hex[:6]}"
    ids = [client.create_experiment(f"{prefix}-{i}", tags={"parity": str(i % 2)}) for i in range(5)]
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [e.experiment_id for e in found] == list(reversed(ids))
    odd = client.search_experiments(filter_string=f"name LIKE '{prefix}-%' AND tags.parity = '1'")
    assert {e.experiment_id for e in odd} == {ids[1], ids[3]}
    page1 = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", max_results=2, order_by=["name"])
    assert len(page1) == 2
    assert page1.token
    page2 = client.search_experiments(
        filter_string=f"name LIKE '{prefix}%'", max_results=2, order_by=["name"], page_token=page1.token
    )
    page3 = client.search_experiments(
        filter_string=f"name LIKE '{prefix}%'", max_results=2, order_by=["name"], page_token=page2.token
    )
    assert [e.experiment_id for e in [*page1, *page2, *page3]] == ids
    assert not page3.token


def test_unknown_experiment_is_404(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as info:
        client.get_experiment("987654321")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_ajax_api_prefix_answers_the_same(client: MlflowClient, live_server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    name = _name("ajax")
    exp_id = client.create_experiment(name)
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        got = httpx.get(f"{live_server.url}{prefix}/experiments/get", params={"experiment_id": exp_id})
        assert got.json()["experiment"]["name"] == name
    listing = httpx.get(f"{live_server.url}/ajax-api/2.0/mlflow-artifacts/artifacts", params={"path": "nothing-here"})
    assert listing.status_code == 200
    assert listing.json() == {}


def test_names_are_kept_exactly(client: MlflowClient) -> None:
    name = f" spaced {uuid.uuid4().hex[:6]} "
    first = mlflow.set_experiment(name)
    again = mlflow.set_experiment(name)
    assert first.experiment_id == again.experiment_id
    assert client.get_experiment(first.experiment_id).name == name
