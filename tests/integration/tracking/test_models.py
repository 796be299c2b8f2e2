"""Model logging, the registry, aliases, loading by models:/ URI, and autolog."""

from __future__ import annotations

import uuid

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x, y


def _train(iris: tuple[np.ndarray, np.ndarray], c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=300).fit(*iris)


def test_log_register_alias_and_load(client: MlflowClient, experiment_id: str, iris) -> None:  # type: ignore[no-untyped-def]
    name = f"iris-{uuid.uuid4().hex[:8]}"
    x, _ = iris
    models = []
    for c in (0.1, 1.0):
        with mlflow.start_run(experiment_id=experiment_id):
            model = _train(iris, c)
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name, input_example=x[:2])
            models.append(model)
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert all(v.status == "READY" for v in versions)
    client.set_registered_model_alias(name, "champion", "2")
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert by_alias.version == "2"
    assert "champion" in by_alias.aliases
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    loaded_v1 = mlflow.pyfunc.load_model(f"models:/{name}/1")
    loaded_champion = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(loaded_v1.predict(x[:20]), models[0].predict(x[:20]))
    np.testing.assert_array_equal(loaded_champion.predict(x[:20]), models[1].predict(x[:20]))
    sk = mlflow.sklearn.load_model(f"models:/{name}@champion")
    np.testing.assert_allclose(sk.predict_proba(x[:5]), models[1].predict_proba(x[:5]))
    client.set_registered_model_alias(name, "champion", "1")  # moving an alias
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(name, "champion")


def test_registry_crud_and_tags(client: MlflowClient, experiment_id: str, iris) -> None:  # type: ignore[no-untyped-def]
    name = f"crud-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name, tags={"team": "a"}, description="first")
    with pytest.raises(MlflowException) as info:
        client.create_registered_model(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info_model = mlflow.sklearn.log_model(_train(iris, 1.0), name="model")
    mv = client.create_model_version(name, info_model.model_uri, run_id=run.info.run_id, tags={"k": "v"})
    assert mv.version == "1"
    assert mv.run_id == run.info.run_id
    client.update_registered_model(name, description="second")
    client.set_registered_model_tag(name, "team", "b")
    client.delete_registered_model_tag(name, "team")
    client.update_model_version(name, "1", description="v1 desc")
    client.set_model_version_tag(name, "1", "k", "v2")
    client.delete_model_version_tag(name, "1", "k")
    rm = client.get_registered_model(name)
    assert rm.description == "second"
    assert "team" not in rm.tags
    v1 = client.get_model_version(name, "1")
    assert v1.description == "v1 desc"
    assert "k" not in v1.tags
    assert client.get_model_version_download_uri(name, "1").endswith("/artifacts")
    assert [m.name for m in client.search_registered_models(f"name = '{name}'")] == [name]
    assert name in {m.name for m in client.search_registered_models("name LIKE 'crud-%'")}
    new_name = f"{name}-renamed"
    client.rename_registered_model(name, new_name)
    assert client.get_model_version(new_name, "1").name == new_name
    client.create_model_version(new_name, info_model.model_uri)
    client.delete_model_version(new_name, "2")
    assert client.create_model_version(new_name, info_model.model_uri).version == "3"  # never reused
    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as info:
        client.get_registered_model(new_name)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_logged_models_search(client: MlflowClient, experiment_id: str, iris) -> None:  # type: ignore[no-untyped-def]
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(_train(iris, 1.0), name="clf")
    found = client.search_logged_models([experiment_id], filter_string="name = 'clf'")
    assert [m.model_id for m in found] == [info.model_id]
    assert client.get_logged_model(info.model_id).status.to_proto() == 2 or str(
        client.get_logged_model(info.model_id).status
    ).endswith("READY")


def test_sklearn_autolog(client: MlflowClient, experiment_id: str, iris) -> None:  # type: ignore[no-untyped-def]
    mlflow.sklearn.autolog(log_models=True, log_datasets=True, silent=True)
    try:
        with mlflow.start_run(experiment_id=experiment_id) as run:
            LogisticRegression(C=0.7, max_iter=200).fit(*iris)
    finally:
        mlflow.sklearn.autolog(disable=True)
    logged = client.get_run(run.info.run_id)
    assert logged.data.params["C"] == "0.7"
    assert "training_accuracy_score" in logged.data.metrics
    assert logged.data.tags["estimator_class"].endswith("LogisticRegression")
    assert logged.inputs.dataset_inputs, "autolog logs the training dataset"
    names = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert "estimator.html" in names
