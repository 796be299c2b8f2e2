"""``/experiments/*`` endpoints."""

from __future__ import annotations

from typing import Any

from cnai.tracking.api.message import Message
from cnai.tracking.api.rpc import Endpoint
from cnai.tracking.experiments import ExperimentStore


def endpoints(store: ExperimentStore) -> list[Endpoint]:
    def create(m: Message) -> dict[str, Any]:
        experiment_id = store.create(m.str("name", required=True), m.str("artifact_location"), m.key_values("tags"))
        return {"experiment_id": experiment_id}

    def get(m: Message) -> dict[str, Any]:
        return {"experiment": store.get(m.str("experiment_id", required=True))}

    def get_by_name(m: Message) -> dict[str, Any]:
        return {"experiment": store.get_by_name(m.str("experiment_name", required=True))}

    def search(m: Message) -> dict[str, Any]:
        found, token = store.search(
            m.str("view_type", "ACTIVE_ONLY"),
            m.str("filter"),
            m.str_list("order_by"),
            m.int("max_results", 1000),
            m.str("page_token"),
        )
        out: dict[str, Any] = {"experiments": found}
        if token:
            out["next_page_token"] = token
        return out

    def update(m: Message) -> None:
        store.rename(m.str("experiment_id", required=True), m.str("new_name", required=True))

    def delete(m: Message) -> None:
        store.set_lifecycle(m.str("experiment_id", required=True), "deleted")

    def restore(m: Message) -> None:
        store.set_lifecycle(m.str("experiment_id", required=True), "active")

    def set_tag(m: Message) -> None:
        store.set_tag(m.str("experiment_id", required=True), m.str("key", required=True), m.str("value", ""))

    def delete_tag(m: Message) -> None:
        store.delete_tag(m.str("experiment_id", required=True), m.str("key", required=True))

    return [
        Endpoint("/experiments/create", "POST", create),
        Endpoint("/experiments/get", "GET", get),
        Endpoint("/experiments/get-by-name", "GET", get_by_name),
        Endpoint("/experiments/search", "POST", search, heavy=True),
        Endpoint("/experiments/search", "GET", search, heavy=True),
        Endpoint("/experiments/list", "GET", search, heavy=True),
        Endpoint("/experiments/update", "POST", update),
        Endpoint("/experiments/delete", "POST", delete),
        Endpoint("/experiments/restore", "POST", restore),
        Endpoint("/experiments/set-experiment-tag", "POST", set_tag),
        Endpoint("/experiments/delete-experiment-tag", "POST", delete_tag),
    ]
