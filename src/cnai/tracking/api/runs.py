"""``/runs/*`` and ``/metrics/*`` endpoints."""

from __future__ import annotations

from typing import Any

from cnai._clock import now_ms
from cnai.errors import InvalidArgument
from cnai.tracking.api.message import INT64_MAX, INT64_MIN, Message, to_float, to_int
from cnai.tracking.api.rpc import Endpoint
from cnai.tracking.metrics import MetricPoint
from cnai.tracking.runs import RunStore
from cnai.tracking.validation import MAX_RESULTS_DEFAULT


def run_id_of(m: Message) -> str:
    # The client sends the deprecated run_uuid alongside run_id; either is accepted.
    run_id = m.str("run_id") or m.str("run_uuid")
    if not run_id:
        raise InvalidArgument("Missing value for required parameter 'run_id'.")
    return str(run_id)


def metric_point(item: Any) -> MetricPoint:
    if not isinstance(item, dict):
        raise InvalidArgument(f"Invalid metric entry {str(item)[:80]!r}: expected an object")
    key = item.get("key")
    if not isinstance(key, str):
        raise InvalidArgument("Missing value for required parameter 'key' in a metric")
    value = item.get("value")
    # Fast path for what the client sends: a JSON number and an integer timestamp and step.
    if type(value) is not float:
        if value is None:
            raise InvalidArgument(f"Missing value for required parameter 'value' of metric {key!r}")
        value = to_float(value, "value")
    timestamp = item.get("timestamp")
    if type(timestamp) is not int or not INT64_MIN <= timestamp <= INT64_MAX:
        timestamp = now_ms() if timestamp in (None, "") else to_int(timestamp, "timestamp")
    step = item.get("step", 0)
    if type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
        step = 0 if step in (None, "") else to_int(step, "step")
    model_id = item.get("model_id")
    dataset_name = item.get("dataset_name")
    dataset_digest = item.get("dataset_digest")
    if model_id is not None or dataset_name is not None or dataset_digest is not None:
        model_id = _opt_str(model_id, "model_id", 64)
        dataset_name = _opt_str(dataset_name, "dataset_name", 500)
        dataset_digest = _opt_str(dataset_digest, "dataset_digest", 36)
    return MetricPoint(key, value, timestamp, step, model_id, dataset_name, dataset_digest)


def _opt_str(value: Any, name: str, limit: int | None = None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"Invalid value for '{name}': expected a string")
    if limit is not None and len(value) > limit:
        raise InvalidArgument(f"'{name}' is longer than {limit} characters")
    return value


def _dataset_inputs(m: Message) -> list[dict[str, Any]]:
    inputs = []
    for item in m.list("datasets"):
        if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
            raise InvalidArgument("Each entry of 'datasets' needs a 'dataset' object")
        ds = item["dataset"]
        fields: dict[str, str | None] = {}
        for name, limit in (("name", 500), ("digest", 36), ("source_type", 36), ("source", None)):
            value = ds.get(name)
            if not isinstance(value, str) or not value:
                raise InvalidArgument(f"Dataset field '{name}' must be a non-empty string")
            fields[name] = _opt_str(value, name, limit)
        for name in ("schema", "profile"):
            fields[name] = _opt_str(ds.get(name), name)
        tags = Message({"tags": item.get("tags") or []}).key_values("tags")
        inputs.append({"dataset": fields, "tags": [{"key": k, "value": v} for k, v in tags]})
    return inputs


def endpoints(store: RunStore) -> list[Endpoint]:
    def create(m: Message) -> dict[str, Any]:
        run = store.create(
            m.str("experiment_id", "0") or "0",
            m.str("user_id", ""),
            m.int("start_time"),
            m.key_values("tags"),
            m.str("run_name"),
        )
        return {"run": run}

    def get(m: Message) -> dict[str, Any]:
        return {"run": store.get(run_id_of(m), wire=True)}

    def update(m: Message) -> dict[str, Any]:
        return {"run_info": store.update(run_id_of(m), m.str("status"), m.int("end_time"), m.str("run_name"))}

    def delete(m: Message) -> None:
        store.set_lifecycle(run_id_of(m), "deleted")

    def restore(m: Message) -> None:
        store.set_lifecycle(run_id_of(m), "active")

    def set_tag(m: Message) -> None:
        store.set_tag(run_id_of(m), m.str("key", required=True), m.str("value", ""))

    def delete_tag(m: Message) -> None:
        store.delete_tag(run_id_of(m), m.str("key", required=True))

    def log_param(m: Message) -> None:
        store.log_param(run_id_of(m), m.str("key", required=True), m.str("value", ""))

    def log_metric(m: Message) -> None:
        store.log_metric(run_id_of(m), metric_point(m.fields()))

    def log_batch(m: Message) -> None:
        store.log_batch(
            run_id_of(m),
            [metric_point(x) for x in m.list("metrics")],
            m.key_values("params"),
            m.key_values("tags"),
        )

    def log_inputs(m: Message) -> None:
        store.log_inputs(run_id_of(m), _dataset_inputs(m))

    def outputs(m: Message) -> None:
        models = []
        for item in m.list("models"):
            if not isinstance(item, dict) or not isinstance(item.get("model_id"), str):
                raise InvalidArgument("Each entry of 'models' needs a 'model_id' string")
            models.append((item["model_id"], to_int(item.get("step") or 0, "step")))
        store.log_outputs(run_id_of(m), models)

    def log_model(m: Message) -> None:
        # Legacy MLflow 2 call: the model's MLmodel JSON is kept in a history tag, as MLflow does.
        model_json = m.str("model_json", required=True)
        run = store.get(run_id_of(m))
        history = next((t["value"] for t in run["data"]["tags"] if t["key"] == "mlflow.log-model.history"), "[]")
        merged = history[:-1] + ("," if history != "[]" else "") + model_json + "]"
        store.set_tag(run_id_of(m), "mlflow.log-model.history", merged)

    def search(m: Message) -> dict[str, Any]:
        found, token = store.search(
            m.str_list("experiment_ids"),
            m.str("filter"),
            m.str("run_view_type"),
            m.int("max_results", MAX_RESULTS_DEFAULT),
            m.str_list("order_by"),
            m.str("page_token"),
            wire=True,
        )
        out: dict[str, Any] = {"runs": found}
        if token:
            out["next_page_token"] = token
        return out

    def metric_history(m: Message) -> dict[str, Any]:
        points, token = store.metric_history(
            run_id_of(m), m.str("metric_key", required=True), m.int("max_results"), m.str("page_token")
        )
        out: dict[str, Any] = {"metrics": points}
        if token:
            out["next_page_token"] = token
        return out

    return [
        Endpoint("/runs/create", "POST", create),
        Endpoint("/runs/get", "GET", get),
        Endpoint("/runs/update", "POST", update),
        Endpoint("/runs/delete", "POST", delete),
        Endpoint("/runs/restore", "POST", restore),
        Endpoint("/runs/set-tag", "POST", set_tag),
        Endpoint("/runs/delete-tag", "POST", delete_tag),
        Endpoint("/runs/log-parameter", "POST", log_param),
        Endpoint("/runs/log-metric", "POST", log_metric),
        Endpoint("/runs/log-batch", "POST", log_batch),
        Endpoint("/runs/log-inputs", "POST", log_inputs),
        Endpoint("/runs/outputs", "POST", outputs),
        Endpoint("/runs/log-model", "POST", log_model),
        Endpoint("/runs/search", "POST", search, heavy=True),
        Endpoint("/metrics/get-history", "GET", metric_history, heavy=True),
    ]
