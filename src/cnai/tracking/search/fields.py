"""What each search may filter on, following MLflow's ``search_utils`` rules.

Each spec names the table its clauses correlate to; the caller's statement must select from it:

* runs: ``runs``               * experiments: ``experiments``
* registered models: ``registered_models``
* model versions: ``model_versions JOIN registered_models ON registered_models.id =
  model_versions.model_ref`` (the model's ``name`` lives on ``registered_models``)
* logged models: ``logged_models``
"""

from __future__ import annotations

from sqlalchemy import and_, exists
from sqlalchemy.sql.elements import ColumnElement

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
from cnai.errors import InvalidArgument
from cnai.tracking.search.ast import NULL_OPS, NUMERIC_OPS, Comparison, Entity, Op
from cnai.tracking.search.compile import (
    ID_OPS,
    STRING_LIST_OPS,
    STRING_OPS,
    Attr,
    KeyTable,
    SearchSpec,
    check_strings,
    compare,
    numeric_attrs,
    string_attrs,
)
from cnai.tracking.search.sql import JsonEntryValue

WITH_NULL = STRING_OPS | NULL_OPS
DATASET_CONTEXT_TAG = "mlflow.data.context"
PROMPT_TAG = "mlflow.prompt.is_prompt"


# -- runs ------------------------------------------------------------------------------------
def _dataset_clause(c: Comparison) -> ColumnElement[bool]:
    """A run matches when any of its dataset inputs does (MLflow's rule)."""
    if c.op not in STRING_LIST_OPS:
        raise InvalidArgument(
            f"Operator {c.op.value} is not supported for {c.field_name}; use one of =, !=, LIKE, ILIKE, IN, NOT IN"
        )
    value = check_strings(c)
    linked = run_inputs.c.run_uuid == runs.c.run_uuid
    if c.key == "context":
        context = JsonEntryValue(run_inputs.c.tags, DATASET_CONTEXT_TAG)
        return exists().where(linked, compare(context, c.op, value))
    column = {"name": datasets.c.name, "digest": datasets.c.digest}.get(c.key)
    if column is None:
        raise InvalidArgument(f"Invalid dataset key {c.key!r}; valid keys: context, digest, name")
    joined = datasets.c.dataset_uuid == run_inputs.c.dataset_uuid
    return exists().where(linked, joined, compare(column, c.op, value))


_run_id = Attr(runs.c.run_uuid, "string", STRING_LIST_OPS)
RUNS = SearchSpec(
    noun="runs",
    attributes={
        "run_id": _run_id,
        "run_uuid": _run_id,
        # The stock server reads run_name from the mlflow.runName tag; cnai keeps runs.name in
        # step with that tag, so the column answers without a join.
        **string_attrs(dict.fromkeys(("run_name", "run name", "Run name", "Run Name"), runs.c.name)),
        **string_attrs(
            {
                "status": runs.c.status,
                "user_id": runs.c.user_id,
                "artifact_uri": runs.c.artifact_uri,
                "lifecycle_stage": runs.c.lifecycle_stage,
            }
        ),
        **numeric_attrs(
            {
                "start_time": runs.c.start_time,
                "created": runs.c.start_time,
                "Created": runs.c.start_time,
                "end_time": runs.c.end_time,
            }
        ),
    },
    tables={
        Entity.METRIC: KeyTable(
            link=lambda: latest_metrics.c.run_uuid == runs.c.run_uuid,
            key=latest_metrics.c.key,
            value=latest_metrics.c.value,
            ops=NUMERIC_OPS,
            numeric=True,
            is_nan=latest_metrics.c.is_nan,
        ),
        Entity.PARAM: KeyTable(lambda: params.c.run_uuid == runs.c.run_uuid, params.c.key, params.c.value, WITH_NULL),
        Entity.TAG: KeyTable(
            lambda: run_tags.c.run_uuid == runs.c.run_uuid, run_tags.c.key, run_tags.c.value, WITH_NULL
        ),
    },
    extra={Entity.DATASET: _dataset_clause},
)


# -- experiments -----------------------------------------------------------------------------
EXPERIMENTS = SearchSpec(
    noun="experiments",
    attributes={
        "name": Attr(experiments.c.name, "string", STRING_OPS),
        "experiment_id": Attr(experiments.c.experiment_id, "id", ID_OPS),
        **numeric_attrs(
            {
                "creation_time": experiments.c.creation_time,
                "last_update_time": experiments.c.last_update_time,
            },
            kind="integer",
        ),
    },
    tables={
        Entity.TAG: KeyTable(
            lambda: experiment_tags.c.experiment_id == experiments.c.experiment_id,
            experiment_tags.c.key,
            experiment_tags.c.value,
            WITH_NULL,
        )
    },
)


# -- registry --------------------------------------------------------------------------------
def _prompt_tag_missing_matches(c: Comparison) -> bool:
    """MLflow treats a model without ``mlflow.prompt.is_prompt`` as a non-prompt.

    The stock client appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every registered
    model search, so a plain model (no such tag) must satisfy it; ``= 'false'`` likewise. Every
    other tag clause needs the tag to exist, as everywhere else.
    """
    if c.entity is not Entity.TAG or c.key != PROMPT_TAG:
        return False
    return (c.op is Op.NE and c.value == "true") or (c.op is Op.EQ and c.value == "false")


REGISTERED_MODELS = SearchSpec(
    noun="registered models",
    attributes={"name": Attr(registered_models.c.name, "string", STRING_LIST_OPS)},
    tables={
        Entity.TAG: KeyTable(
            lambda: registered_model_tags.c.model_ref == registered_models.c.id,
            registered_model_tags.c.key,
            registered_model_tags.c.value,
            STRING_OPS,
        )
    },
    missing_matches=_prompt_tag_missing_matches,
)

MODEL_VERSIONS = SearchSpec(
    noun="model versions",
    attributes={
        "name": Attr(registered_models.c.name, "string", STRING_LIST_OPS),
        "run_id": Attr(model_versions.c.run_id, "string", STRING_LIST_OPS),
        "source_path": Attr(model_versions.c.source, "string", STRING_OPS),
        **numeric_attrs(
            {
                "version_number": model_versions.c.version,
                "version": model_versions.c.version,
                "creation_timestamp": model_versions.c.creation_time,
                "last_updated_timestamp": model_versions.c.last_updated_time,
            },
            kind="integer",
        ),
    },
    tables={
        Entity.TAG: KeyTable(
            lambda: and_(
                model_version_tags.c.model_ref == model_versions.c.model_ref,
                model_version_tags.c.version == model_versions.c.version,
            ),
            model_version_tags.c.key,
            model_version_tags.c.value,
            STRING_OPS,
        )
    },
    missing_matches=_prompt_tag_missing_matches,
)

# -- logged models ---------------------------------------------------------------------------
_LOGGED_MODEL_STATUSES = frozenset({"PENDING", "READY", "UPLOAD_FAILED", "STATUS_UNSPECIFIED"})


def _logged_model_status(value: str) -> str:
    """Accept ``READY`` for the stored ``LOGGED_MODEL_READY`` (the proto enum's long name)."""
    return f"LOGGED_MODEL_{value.upper()}" if value.upper() in _LOGGED_MODEL_STATUSES else value


LOGGED_MODELS = SearchSpec(
    noun="logged models",
    attributes={
        **string_attrs(
            {
                "name": logged_models.c.name,
                "model_id": logged_models.c.model_id,
                "model_type": logged_models.c.model_type,
                "source_run_id": logged_models.c.source_run_id,
            },
            ops=STRING_LIST_OPS,
        ),
        "status": Attr(logged_models.c.status, "string", STRING_LIST_OPS, normalize=_logged_model_status),
        **numeric_attrs(
            {
                "creation_timestamp": logged_models.c.creation_timestamp_ms,
                "creation_time": logged_models.c.creation_timestamp_ms,
                "last_updated_timestamp": logged_models.c.last_updated_timestamp_ms,
                "last_updated_time": logged_models.c.last_updated_timestamp_ms,
            }
        ),
    },
    tables={
        # Any logged point of the metric counts (MLflow's rule for logged models).
        Entity.METRIC: KeyTable(
            lambda: metrics.c.model_id == logged_models.c.model_id,
            metrics.c.key,
            metrics.c.value,
            NUMERIC_OPS,
            numeric=True,
            is_nan=metrics.c.is_nan,
        ),
        Entity.PARAM: KeyTable(
            lambda: logged_model_params.c.model_id == logged_models.c.model_id,
            logged_model_params.c.key,
            logged_model_params.c.value,
            STRING_OPS,
        ),
        Entity.TAG: KeyTable(
            lambda: logged_model_tags.c.model_id == logged_models.c.model_id,
            logged_model_tags.c.key,
            logged_model_tags.c.value,
            STRING_OPS,
        ),
    },
)
