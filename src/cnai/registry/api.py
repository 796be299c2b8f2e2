"""``/registered-models/*`` and ``/model-versions/*`` endpoints."""

from __future__ import annotations

from typing import Any

from cnai.registry.store import RegistryStore
from cnai.tracking.api.message import Message
from cnai.tracking.api.rpc import Endpoint


def _page(key: str, found: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {key: found}
    if token:
        out["next_page_token"] = token
    return out


def endpoints(store: RegistryStore) -> list[Endpoint]:
    def name(m: Message) -> str:
        return str(m.str("name", required=True))

    def version(m: Message) -> str:
        return str(m.int("version", required=True))

    def create_model(m: Message) -> dict[str, Any]:
        return {"registered_model": store.create_model(name(m), m.key_values("tags"), m.str("description", ""))}

    def get_model(m: Message) -> dict[str, Any]:
        return {"registered_model": store.get_model(name(m))}

    def rename_model(m: Message) -> dict[str, Any]:
        return {"registered_model": store.rename_model(name(m), m.str("new_name", required=True))}

    def update_model(m: Message) -> dict[str, Any]:
        return {"registered_model": store.update_model(name(m), m.str("description"))}

    def delete_model(m: Message) -> None:
        store.delete_model(name(m))

    def set_model_tag(m: Message) -> None:
        store.set_model_tag(name(m), m.str("key", required=True), m.str("value", ""))

    def delete_model_tag(m: Message) -> None:
        store.delete_model_tag(name(m), m.str("key", required=True))

    def search_models(m: Message) -> dict[str, Any]:
        found, token = store.search_models(
            m.str("filter"), m.int("max_results", 100), m.str_list("order_by"), m.str("page_token")
        )
        return _page("registered_models", found, token)

    def latest_versions(m: Message) -> dict[str, Any]:
        return {"model_versions": store.latest_versions(name(m), m.str_list("stages"))}

    def create_version(m: Message) -> dict[str, Any]:
        created = store.create_version(
            name(m),
            m.str("source", required=True),
            m.str("run_id"),
            m.key_values("tags"),
            m.str("run_link"),
            m.str("description"),
            m.str("model_id"),
        )
        return {"model_version": created}

    def get_version(m: Message) -> dict[str, Any]:
        return {"model_version": store.get_version(name(m), version(m))}

    def update_version(m: Message) -> dict[str, Any]:
        return {"model_version": store.update_version(name(m), version(m), m.str("description"))}

    def transition_stage(m: Message) -> dict[str, Any]:
        moved = store.transition_stage(
            name(m), version(m), m.str("stage", required=True), m.bool("archive_existing_versions")
        )
        return {"model_version": moved}

    def delete_version(m: Message) -> None:
        store.delete_version(name(m), version(m))

    def set_version_tag(m: Message) -> None:
        store.set_version_tag(name(m), version(m), m.str("key", required=True), m.str("value", ""))

    def delete_version_tag(m: Message) -> None:
        store.delete_version_tag(name(m), version(m), m.str("key", required=True))

    def search_versions(m: Message) -> dict[str, Any]:
        found, token = store.search_versions(
            m.str("filter"), m.int("max_results", 10_000), m.str_list("order_by"), m.str("page_token")
        )
        return _page("model_versions", found, token)

    def download_uri(m: Message) -> dict[str, Any]:
        return {"artifact_uri": store.download_uri(name(m), version(m))}

    def set_alias(m: Message) -> None:
        store.set_alias(name(m), m.str("alias", required=True), version(m))

    def delete_alias(m: Message) -> None:
        store.delete_alias(name(m), m.str("alias", required=True))

    def get_by_alias(m: Message) -> dict[str, Any]:
        return {"model_version": store.get_by_alias(name(m), m.str("alias", required=True))}

    rm, mv = "/registered-models", "/model-versions"
    return [
        Endpoint(f"{rm}/create", "POST", create_model),
        Endpoint(f"{rm}/get", "GET", get_model),
        Endpoint(f"{rm}/rename", "POST", rename_model),
        Endpoint(f"{rm}/update", "PATCH", update_model),
        Endpoint(f"{rm}/delete", "DELETE", delete_model),
        Endpoint(f"{rm}/set-tag", "POST", set_model_tag),
        Endpoint(f"{rm}/delete-tag", "DELETE", delete_model_tag),
        Endpoint(f"{rm}/search", "GET", search_models, heavy=True),
        Endpoint(f"{rm}/get-latest-versions", "POST", latest_versions),
        Endpoint(f"{rm}/get-latest-versions", "GET", latest_versions),
        Endpoint(f"{rm}/alias", "POST", set_alias),
        Endpoint(f"{rm}/alias", "DELETE", delete_alias),
        Endpoint(f"{rm}/alias", "GET", get_by_alias),
        Endpoint(f"{mv}/create", "POST", create_version),
        Endpoint(f"{mv}/get", "GET", get_version),
        Endpoint(f"{mv}/update", "PATCH", update_version),
        Endpoint(f"{mv}/transition-stage", "POST", transition_stage),
        Endpoint(f"{mv}/delete", "DELETE", delete_version),
        Endpoint(f"{mv}/set-tag", "POST", set_version_tag),
        Endpoint(f"{mv}/delete-tag", "DELETE", delete_version_tag),
        Endpoint(f"{mv}/search", "GET", search_versions, heavy=True),
        Endpoint(f"{mv}/get-download-uri", "GET", download_uri),
    ]
