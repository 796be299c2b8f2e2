"""A small, fixed world of rows that the execute tests search, identical on every backend."""

from __future__ import annotations

import json

from sqlalchemy import Connection

from cnai.db.schema import (
    datasets,
    experiment_tags,
    experiments,
    latest_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    metrics,
    model_version_tags,
    model_versions,
    params,
    registered_model_tags,
    registered_models,
    run_inputs,
    run_tags,
    runs,
)

CONTEXT = "mlflow.data.context"
PROMPT = "mlflow.prompt.is_prompt"


def _run(run_uuid: str, name: str, user: str, status: str, start: int, end: int | None) -> dict[str, object]:
    return {
        "run_uuid": run_uuid,
        "experiment_id": 1,
        "name": name,
        "user_id": user,
        "status": status,
        "start_time": start,
        "end_time": end,
        "lifecycle_stage": "active",
        "artifact_uri": f"s3://bucket/{run_uuid}",
    }


def seed(conn: Connection) -> None:
    conn.execute(
        experiments.insert(),
        [
            {
                "experiment_id": 1,
                "name": "exp-a",
                "artifact_location": "a",
                "creation_time": 1000,
                "last_update_time": 5000,
            },
            {
                "experiment_id": 2,
                "name": "exp-B",
                "artifact_location": "b",
                "creation_time": 2000,
                "last_update_time": 4000,
            },
            {
                "experiment_id": 3,
                "name": "Other_exp",
                "artifact_location": "c",
                "creation_time": 3000,
                "last_update_time": 3000,
            },
        ],
    )
    conn.execute(
        experiment_tags.insert(),
        [
            {"experiment_id": 1, "key": "stage", "value": "prod"},
            {"experiment_id": 2, "key": "stage", "value": "dev"},
            {"experiment_id": 2, "key": "team", "value": "x"},
        ],
    )
    conn.execute(
        runs.insert(),
        [
            _run("r1", "alpha", "ann", "FINISHED", 100, 200),
            _run("r2", "Alpha-2", "bob", "RUNNING", 300, None),
            _run("r3", "beta_x", "ann", "FAILED", 200, 400),
            _run("r4", "gamma%", "Ann", "FINISHED", 300, 500),
        ],
    )
    conn.execute(
        params.insert(),
        [
            {"run_uuid": "r1", "key": "lr", "value": "0.1"},
            {"run_uuid": "r1", "key": "model", "value": "CNN"},
            {"run_uuid": "r2", "key": "lr", "value": "0.01"},
            {"run_uuid": "r2", "key": "model", "value": "cnn"},
            {"run_uuid": "r3", "key": "model", "value": "x\\y"},
            {"run_uuid": "r4", "key": "lr", "value": "0.1"},
        ],
    )
    conn.execute(
        run_tags.insert(),
        [
            {"run_uuid": "r1", "key": "env", "value": "prod"},
            {"run_uuid": "r1", "key": "mlflow.runName", "value": "alpha"},
            {"run_uuid": "r1", "key": "my tag", "value": "x"},
            {"run_uuid": "r2", "key": "env", "value": "dev"},
            {"run_uuid": "r3", "key": "env", "value": "Prod"},
        ],
    )
    point = {"timestamp": 1, "step": 0, "is_nan": False}
    conn.execute(
        latest_metrics.insert(),
        [
            {**point, "run_uuid": "r1", "key": "acc", "value": 0.9},
            {**point, "run_uuid": "r1", "key": "loss", "value": 0.3},
            {**point, "run_uuid": "r2", "key": "acc", "value": 0.5},
            # NaN is stored as a placeholder value with is_nan set (SQLite cannot store NaN).
            {**point, "run_uuid": "r3", "key": "acc", "value": 0.0, "is_nan": True},
            {**point, "run_uuid": "r4", "key": "loss", "value": 0.1},
        ],
    )
    conn.execute(
        datasets.insert(),
        [
            {
                "dataset_uuid": "d1",
                "experiment_id": 1,
                "name": "iris",
                "digest": "abc123",
                "source_type": "local",
                "source": "{}",
            },
            {
                "dataset_uuid": "d2",
                "experiment_id": 1,
                "name": "wine",
                "digest": "def456",
                "source_type": "local",
                "source": "{}",
            },
        ],
    )
    conn.execute(
        run_inputs.insert(),
        [
            {"run_uuid": "r1", "dataset_uuid": "d1", "tags": json.dumps([{"key": CONTEXT, "value": "training"}])},
            {
                "run_uuid": "r2",
                "dataset_uuid": "d2",
                "tags": json.dumps([{"key": "other", "value": "x"}, {"key": CONTEXT, "value": "eval"}]),
            },
            {"run_uuid": "r3", "dataset_uuid": "d1", "tags": "[]"},
            {"run_uuid": "r4", "dataset_uuid": "d2", "tags": '{"key": "not a list"}'},
        ],
    )
    _seed_registry(conn)
    _seed_logged_models(conn)


def _seed_registry(conn: Connection) -> None:
    conn.execute(
        registered_models.insert(),
        [
            {"id": 1, "name": "ModelA", "creation_time": 10, "last_updated_time": 30},
            {"id": 2, "name": "modelB", "creation_time": 20, "last_updated_time": 20},
            {"id": 3, "name": "other", "creation_time": 30, "last_updated_time": 10},
        ],
    )
    conn.execute(
        registered_model_tags.insert(),
        [
            {"model_ref": 1, "key": "team", "value": "ml"},
            {"model_ref": 2, "key": PROMPT, "value": "true"},
            {"model_ref": 3, "key": PROMPT, "value": "false"},
            {"model_ref": 3, "key": "team", "value": "ML"},
        ],
    )
    version = {"last_updated_time": 1, "source": "", "run_id": None}
    conn.execute(
        model_versions.insert(),
        [
            {**version, "model_ref": 1, "version": 1, "creation_time": 100, "run_id": "r1", "source": "models:/m-1"},
            {**version, "model_ref": 1, "version": 2, "creation_time": 200, "run_id": "r2", "source": "s3://x/m1v2"},
            {**version, "model_ref": 3, "version": 1, "creation_time": 150, "run_id": "r1", "source": "models:/m-3"},
        ],
    )
    conn.execute(
        model_version_tags.insert(),
        [
            {"model_ref": 1, "version": 1, "key": "stage", "value": "prod"},
            {"model_ref": 1, "version": 2, "key": "stage", "value": "dev"},
        ],
    )


def _seed_logged_models(conn: Connection) -> None:
    base = {"experiment_id": 1, "artifact_location": "x", "lifecycle_stage": "active"}
    conn.execute(
        logged_models.insert(),
        [
            {
                **base,
                "model_id": "lm1",
                "name": "model",
                "creation_timestamp_ms": 10,
                "last_updated_timestamp_ms": 10,
                "status": "LOGGED_MODEL_READY",
                "model_type": "sklearn",
                "source_run_id": "r1",
            },
            {
                **base,
                "model_id": "lm2",
                "name": "model",
                "creation_timestamp_ms": 20,
                "last_updated_timestamp_ms": 25,
                "status": "LOGGED_MODEL_PENDING",
                "model_type": None,
                "source_run_id": "r2",
            },
            {
                **base,
                "model_id": "lm3",
                "name": "other",
                "creation_timestamp_ms": 30,
                "last_updated_timestamp_ms": 30,
                "status": "LOGGED_MODEL_READY",
                "model_type": None,
                "source_run_id": None,
            },
        ],
    )
    conn.execute(
        logged_model_params.insert(),
        [{"model_id": "lm1", "key": "alpha", "value": "1"}, {"model_id": "lm2", "key": "alpha", "value": "2"}],
    )
    conn.execute(logged_model_tags.insert(), [{"model_id": "lm1", "key": "k", "value": "v"}])
    point = {"run_uuid": "r1", "key": "acc", "step": 0, "is_nan": False}
    conn.execute(
        metrics.insert(),
        [
            {**point, "model_id": "lm1", "value": 0.8, "timestamp": 1},
            {**point, "model_id": "lm1", "value": 0.95, "timestamp": 2},
            {**point, "model_id": "lm2", "value": 0.7, "timestamp": 1, "run_uuid": "r2"},
            {**point, "model_id": "lm3", "value": 0.0, "timestamp": 1, "is_nan": True},
            {**point, "model_id": None, "value": 0.99, "timestamp": 1},  # a run's point, no model
        ],
    )
