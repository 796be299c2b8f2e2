"""``/logged-models`` endpoints (MLflow 3)."""

from __future__ import annotations

from typing import Any

from cnai.errors import InvalidArgument
from cnai.tracking.api.message import Message
from cnai.tracking.api.rpc import Endpoint
from cnai.tracking.logged_models import LoggedModelStore


def endpoints(store: LoggedModelStore) -> list[Endpoint]:
    def create(m: Message) -> dict[str, Any]:
        model = store.create(
            m.str("experiment_id", required=True),
            m.str("name"),
            m.str("source_run_id"),
            m.str("model_type"),
            m.key_values("params"),
            m.key_values("tags"),
        )
        return {"model": model}

    def get(m: Message) -> dict[str, Any]:
        return {"model": store.get(m.str("model_id", required=True), m.bool("allow_deleted"))}

    def finalize(m: Message) -> dict[str, Any]:
        return {"model": store.finalize(m.str("model_id", required=True), m.str("status", required=True))}

    def set_tags(m: Message) -> None:
        store.set_tags(m.str("model_id", required=True), m.key_values("tags"))

    def delete_tag(m: Message) -> None:
        store.delete_tag(m.str("model_id", required=True), m.str("tag_key", required=True))

    def log_params(m: Message) -> None:
        store.log_params(m.str("model_id", required=True), m.key_values("params"))

    def delete(m: Message) -> None:
        store.delete(m.str("model_id", required=True))

    def search(m: Message) -> dict[str, Any]:
        order_by = m.list("order_by")
        if any(not isinstance(o, dict) or not isinstance(o.get("field_name"), str) for o in order_by):
            raise InvalidArgument("order_by entries must be objects with 'field_name' and 'ascending'")
        found, token = store.search(
            m.str_list("experiment_ids"),
            m.str("filter"),
            order_by,
            m.int("max_results", 100),
            m.str("page_token"),
        )
        out: dict[str, Any] = {"models": found}
        if token:
            out["next_page_token"] = token
        return out

    return [
        Endpoint("/logged-models", "POST", create),
        Endpoint("/logged-models/search", "POST", search, heavy=True),
        Endpoint("/logged-models/{model_id}", "GET", get),
        Endpoint("/logged-models/{model_id}", "PATCH", finalize),
        Endpoint("/logged-models/{model_id}", "DELETE", delete),
        Endpoint("/logged-models/{model_id}/tags", "PATCH", set_tags),
        Endpoint("/logged-models/{model_id}/tags/{tag_key}", "DELETE", delete_tag),
        Endpoint("/logged-models/{model_id}/params", "POST", log_params),
    ]
