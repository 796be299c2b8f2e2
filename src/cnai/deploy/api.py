"""``/api/v1/deployments/{name}/promote`` and ``/rollback``: canary control as spec changes.

Both only rewrite desired state (``ResourceStore.update_spec``); the controller does the rest on
its next pass, exactly as if the user had edited and re-applied the YAML. Promote makes the
canary's model the primary model and removes the canary (a rolling update, which reuses the
canary's ready replicas); rollback removes the canary. Either without a canary is a 409.

When the deployment follows an alias (``models:/wine@champion``) and the canary is a version of
the same registered model (``models:/wine/7``), promoting moves the alias to that version
instead of pinning the deployment to it: the registry then says which version is the champion,
and the deployment keeps following the alias for the next roll-out.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.deploy.specs import KIND
from cnai.errors import InvalidState
from cnai.resources import ResourceStore
from cnai.resources.http import handler, json_response

PREFIX = "/api/v1/deployments"
_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


class AliasSetter(Protocol):
    """The part of the model registry a promote needs (``RegistryStore`` has it)."""

    def set_alias(self, name: str, alias: str, version: str) -> None: ...


def alias_move(spec: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(model, alias, version)`` when promoting means moving the primary's alias to the canary's
    version of the same model; None when the canary's URI must replace the primary's."""
    primary = _ALIAS_URI.match(str(spec.get("model", "")))
    canary = _VERSION_URI.match(str((spec.get("canary") or {}).get("model", "")))
    if primary and canary and primary["name"] == canary["name"]:
        return primary["name"], primary["alias"], canary["version"]
    return None


def promoted(spec: dict[str, Any], name: str) -> dict[str, Any]:
    canary = spec.get("canary")
    if not canary:
        raise InvalidState(f"Deployment {name!r} has no canary to promote")
    if alias_move(spec):
        return {**spec, "canary": None}
    return {**spec, "model": canary["model"], "canary": None}


def rolled_back(spec: dict[str, Any], name: str) -> dict[str, Any]:
    if not spec.get("canary"):
        raise InvalidState(f"Deployment {name!r} has no canary to roll back")
    return {**spec, "canary": None}


def deploy_routes(store: ResourceStore, registry: AliasSetter | None = None) -> list[Route]:
    """``registry``: where a promote moves an alias (see the module doc); without one, promotes
    always pin the deployment to the canary's URI."""

    @handler
    async def promote(request: Request) -> Response:
        name = request.path_params["name"]
        current = store.get(KIND, name)
        new_spec = promoted(current.spec, name)  # 409 without a canary, before anything moves
        move = alias_move(current.spec) if registry is not None else None
        if move is not None and registry is not None:
            model, alias, version = move
            registry.set_alias(model, alias, version)
        elif new_spec["model"] == current.spec["model"]:  # no registry to move the alias in: pin
            new_spec = {**new_spec, "model": current.spec["canary"]["model"]}
        resource = store.update_spec(KIND, name, new_spec)
        body: dict[str, Any] = {"action": "promoted", "model": resource.spec["model"], "resource": resource.to_dict()}
        if move is not None:
            body["alias"] = {"model": move[0], "alias": move[1], "version": move[2]}
        return json_response(body)

    @handler
    async def rollback(request: Request) -> Response:
        name = request.path_params["name"]
        current = store.get(KIND, name)
        resource = store.update_spec(KIND, name, rolled_back(current.spec, name))
        return json_response(
            {"action": "rolled back", "canary": current.spec["canary"]["model"], "resource": resource.to_dict()}
        )

    return [
        Route(PREFIX + "/{name}/promote", promote, methods=["POST"]),
        Route(PREFIX + "/{name}/rollback", rollback, methods=["POST"]),
    ]
