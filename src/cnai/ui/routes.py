"""The web UI's routes: ``/`` and ``/ui/...``, read-only, server-rendered HTML.

Pages read the stores synchronously, so each one runs in the thread pool, never on the event
loop that also serves the MLflow API. Unknown objects answer a 404 page and bad input (an
``order_by`` the search grammar rejects) a 400 page, both HTML like the rest of the UI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from cnai.errors import InvalidArgument, NotFound
from cnai.ui import (
    compare,
    deploy_activity,
    ops_pages,
    pages,
    registry_pages,
    run_pages,
    runs_list,
    static,
    study_pages,
)
from cnai.ui.layout import Page, document, error_page

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

Endpoint = Callable[[Request], Awaitable[Response]]
Render = Callable[["ControlPlane", Request], Page]


def _html(render: Render) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        plane: ControlPlane = request.app.state.plane
        try:
            shown = await run_in_threadpool(render, plane, request)
        except NotFound as exc:
            return HTMLResponse(error_page(404, exc.message), status_code=404)
        except InvalidArgument as exc:
            return HTMLResponse(error_page(400, exc.message), status_code=400)
        return HTMLResponse(document(shown.title, shown.body, shown.crumbs, charts=shown.charts))

    return endpoint


async def _not_found(request: Request) -> Response:
    return HTMLResponse(error_page(404, f"No page at {request.url.path}"), status_code=404)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def ui_routes(json_index: Endpoint | None = None) -> list[Route]:
    """The UI's routes; ``json_index`` still answers ``/`` for clients that ask for JSON only."""
    overview = _html(lambda plane, r: pages.overview(plane))

    async def index(request: Request) -> Response:
        if json_index is not None and _wants_json(request):
            return await json_index(request)
        return await overview(request)

    pairs: list[tuple[str, Render]] = [
        (
            "/ui/experiments/{experiment_id}",
            lambda plane, r: runs_list.experiment(
                plane, r.path_params["experiment_id"], runs_list.query_from(r.query_params)
            ),
        ),
        ("/ui/compare", lambda plane, r: compare.compare(plane, r.query_params.getlist("run"))),
        ("/ui/runs/{run_id}", lambda plane, r: run_pages.run(plane, r.path_params["run_id"])),
        ("/ui/studies/{run_id}", lambda plane, r: study_pages.study(plane, r.path_params["run_id"])),
        (
            "/ui/runs/{run_id}/artifacts",
            lambda plane, r: run_pages.run_artifacts(plane, r.path_params["run_id"], r.query_params),
        ),
        ("/ui/logged-models/{model_id}", lambda plane, r: run_pages.logged_model(plane, r.path_params["model_id"])),
        (
            "/ui/logged-models/{model_id}/artifacts",
            lambda plane, r: run_pages.logged_model_artifacts(plane, r.path_params["model_id"], r.query_params),
        ),
        ("/ui/datasets/{dataset_uuid}", lambda plane, r: run_pages.dataset(plane, r.path_params["dataset_uuid"])),
        # Registered model names may hold '/': the rest of the path is the name. A version's page
        # comes first; a model literally named "x/versions/3" is reached through its version list.
        (
            "/ui/models/{name:path}/versions/{version:int}",
            lambda plane, r: registry_pages.model_version(plane, r.path_params["name"], str(r.path_params["version"])),
        ),
        ("/ui/models/{name:path}", lambda plane, r: pages.model(plane, r.path_params["name"])),
        ("/ui/deployments/{name}", lambda plane, r: ops_pages.deployment(plane, r.path_params["name"])),
        # A replica's log: only replicas the controller recorded, looked up by id (deploy_activity).
        (
            "/ui/deployments/{name}/replicas/{replica}/log",
            lambda plane, r: deploy_activity.replica_log(plane, r.path_params["name"], r.path_params["replica"]),
        ),
        ("/ui/monitors/{name}", lambda plane, r: ops_pages.monitor(plane, r.path_params["name"])),
        (
            "/ui/monitors/{name}/windows/{seq}",
            lambda plane, r: ops_pages.window_report(plane, r.path_params["name"], r.path_params["seq"]),
        ),
    ]
    return [
        Route("/", index, methods=["GET"]),
        Route("/ui/static/{name}", static.serve, methods=["GET"]),
        Route("/ui/api/history", _history, methods=["GET"]),
        *(Route(path, _html(render), methods=["GET"]) for path, render in pairs),
        Route("/ui/{rest:path}", _not_found, methods=["GET"]),
    ]


async def _history(request: Request) -> Response:
    """Metric histories for the charts: ``?run=ID&run=ID&key=loss``; errors as JSON."""
    plane: ControlPlane = request.app.state.plane
    run_ids, key = request.query_params.getlist("run"), request.query_params.get("key", "")
    try:
        answer = await run_in_threadpool(compare.history, plane, run_ids, key)
    except NotFound as exc:
        return JSONResponse({"error": exc.message}, status_code=404)
    except InvalidArgument as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    # orjson: ten 1,000-point histories serialise in a millisecond rather than tens of them.
    return Response(orjson.dumps(answer), media_type="application/json")
