"""``/api/v1/resources/{kind}[/{name}]``: apply, get, list and delete declarative resources.

``kind`` in the path is any spelling ``cnai get`` accepts (``deployments``, ``deploy``,
``Deployment``). PUT takes one document (the JSON form of the YAML) whose kind and name must
match the path, as kubectl's server-side apply does. The caller (``cnai.auth.principal_of``) is
passed to the kind's admission: a 403 ``PERMISSION_DENIED`` says what the spec needs.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.auth.principal import principal_of
from cnai.errors import InvalidArgument
from cnai.resources.documents import parse_document
from cnai.resources.http import handler, json_response, read_json
from cnai.resources.store import ResourceStore, resolve_kind

PREFIX = "/api/v1/resources"


def routes(store: ResourceStore) -> list[Route]:
    @handler
    async def list_resources(request: Request) -> Response:
        kind = resolve_kind(request.path_params["kind"], store.kinds)
        return json_response({"items": [r.to_dict() for r in store.list(kind)]})

    @handler
    async def get_resource(request: Request) -> Response:
        kind = resolve_kind(request.path_params["kind"], store.kinds)
        return json_response(store.get(kind, request.path_params["name"]).to_dict())

    @handler
    async def apply_resource(request: Request) -> Response:
        kind = resolve_kind(request.path_params["kind"], store.kinds)
        doc = parse_document(await read_json(request))
        if (doc.kind, doc.name) != (kind, request.path_params["name"]):
            raise InvalidArgument(
                f"The document is {doc.kind} {doc.name!r} but the path names {kind} {request.path_params['name']!r}"
            )
        # Off the loop: admission may resolve a webhook's host name.
        resource, outcome = await run_in_threadpool(store.apply, doc, principal=principal_of(request))
        return json_response({"outcome": outcome, "resource": resource.to_dict()}, 201 if outcome == "created" else 200)

    @handler
    async def delete_resource(request: Request) -> Response:
        kind = resolve_kind(request.path_params["kind"], store.kinds)
        return json_response(store.delete(kind, request.path_params["name"]).to_dict())

    return [
        Route(PREFIX + "/{kind}", list_resources, methods=["GET"]),
        Route(PREFIX + "/{kind}/{name}", get_resource, methods=["GET"]),
        Route(PREFIX + "/{kind}/{name}", apply_resource, methods=["PUT"]),
        Route(PREFIX + "/{kind}/{name}", delete_resource, methods=["DELETE"]),
    ]
