"""``/api/v1/deployments/{name}/promote`` and ``/rollback``: canary control as spec changes.

Both only rewrite desired state (``ResourceStore.update_spec``); the controller does the rest on
its next pass, exactly as if the user had edited and re-applied the YAML. Promote makes the
canary's model the primary model and removes the canary (a rolling update, which reuses the
canary's ready replicas); rollback removes the canary. Either without a canary is a 409.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.deploy.specs import KIND
from cnai.errors import InvalidState
from cnai.resources import ResourceStore
from cnai.resources.http import handler, json_response

PREFIX = "/api/v1/deployments"


def promoted(spec: dict[str, Any], name: str) -> dict[str, Any]:
    canary = spec.get("canary")
    if not canary:
        raise InvalidState(f"Deployment {name!r} has no canary to promote")
    return {**spec, "model": canary["model"], "canary": None}


def rolled_back(spec: dict[str, Any], name: str) -> dict[str, Any]:
    if not spec.get("canary"):
        raise InvalidState(f"Deployment {name!r} has no canary to roll back")
    return {**spec, "canary": None}


def deploy_routes(store: ResourceStore) -> list[Route]:
    @handler
    async def promote(request: Request) -> Response:
        name = request.path_params["name"]
        current = store.get(KIND, name)
        resource = store.update_spec(KIND, name, promoted(current.spec, name))
        return json_response({"action": "promoted", "model": resource.spec["model"], "resource": resource.to_dict()})

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
