"""``--register``: log the best trial's model on its run and register it as a new model version.

How a trial hands over a model: the objective returns ``(value, model)`` instead of ``value``.
With ``--register`` each worker pickles the model it got to ``$CNAI_HOME/tune/<study>.models/``
(without it the model is dropped); once the study ends, the best trial's model is saved in MLflow's
sklearn flavour (any picklable object with ``predict``), logged under ``model/`` on that trial's
run and registered under the given name. Needs mlflow (the ``serving`` extra).
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

from cnai.errors import AlreadyExists, InvalidState
from cnai.settings import Settings


def register_best(
    settings: Settings, tracking_uri: str, name: str, study: Any, run_ids: dict[int, str], model_dir: Path
) -> str:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise InvalidState("No trial completed, so there is no best model to register.")
    best = study.best_trial
    file = model_dir / f"{best.number}.pkl"
    if not file.is_file():
        raise InvalidState(
            f"The best trial ({best.number}) returned no model: "
            "return (value, model) from the objective to register it."
        )
    run_id = run_ids.get(best.number)
    if not run_id:
        raise InvalidState(f"The best trial ({best.number}) has no run to log its model on.")
    try:
        import mlflow.sklearn
    except ImportError as exc:
        raise InvalidState("Registering a model needs mlflow: pip install 'cnai[serving]'.") from exc
    model = pickle.loads(file.read_bytes())
    with tempfile.TemporaryDirectory(prefix="cnai-tune-model-") as tmp:
        local = Path(tmp) / "model"
        mlflow.sklearn.save_model(model, str(local))
        if tracking_uri:
            return _register_remote(tracking_uri, name, run_id, local)
        return _register_embedded(settings, name, run_id, local)


def _register_remote(tracking_uri: str, name: str, run_id: str, local: Path) -> str:
    """Through the server, with the stock client, as a user's script would."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    client.log_artifacts(run_id, str(local), "model")
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    return str(client.create_model_version(name, source, run_id).version)


def _register_embedded(settings: Settings, name: str, run_id: str, local: Path) -> str:
    """Straight into the stores under CNAI_HOME, where a server started later finds it."""
    from cnai.artifacts.factory import store_from_uri
    from cnai.db.engine import make_engine
    from cnai.registry.store import RegistryStore
    from cnai.tracking.runs import RunStore

    engine = make_engine(settings.store)
    try:
        artifact_uri = str(RunStore(engine).get(run_id)["info"]["artifact_uri"])
        prefix = "mlflow-artifacts:/"
        if not artifact_uri.startswith(prefix):
            raise InvalidState(f"The run's artifacts live outside this store ({artifact_uri}); use --tracking-uri.")
        root = artifact_uri[len(prefix) :].strip("/") + "/model"
        artifacts = store_from_uri(settings.artifacts, s3_endpoint_url=settings.s3_endpoint_url)
        for file in sorted(local.rglob("*")):
            if file.is_file():
                artifacts.write_bytes(f"{root}/{file.relative_to(local).as_posix()}", file.read_bytes())
        registry = RegistryStore(engine)
        try:
            registry.create_model(name, [], "")
        except AlreadyExists:
            pass
        version = registry.create_version(name, f"{artifact_uri}/model", run_id, [], None, None, None)
        return str(version["version"])
    finally:
        engine.dispose()
