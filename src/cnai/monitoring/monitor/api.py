"""``/api/v1/monitors/{name}/windows`` and ``/actions``: a Monitor's stored window results
(newest first, paged with ``before=<window seq>``) and its alerts' delivery state."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.errors import InvalidArgument
from cnai.monitoring.monitor.store import MonitorStore
from cnai.resources.http import handler, json_response

PREFIX = "/api/v1/monitors"
MAX_LIMIT = 1000
MAX_SEQ = 2**63 - 1  # window numbers are int64 columns: a larger bound cannot be a query parameter


def monitor_routes(engine: Engine) -> list[Route]:
    store = MonitorStore(engine)

    @handler
    async def list_windows(request: Request) -> Response:
        limit = _int_param(request, "limit", 100, 1, MAX_LIMIT) or 100
        before = _int_param(request, "before", None, 1, MAX_SEQ)
        windows = await run_in_threadpool(store.windows, request.path_params["name"], limit, before)
        page: dict[str, object] = {"windows": windows}
        if len(windows) == limit and windows:
            page["next_before"] = windows[-1]["window"]
        return json_response(page)

    @handler
    async def list_actions(request: Request) -> Response:
        limit = _int_param(request, "limit", 100, 1, MAX_LIMIT) or 100
        return json_response({"actions": await run_in_threadpool(store.actions, request.path_params["name"], limit)})

    return [
        Route(PREFIX + "/{name}/windows", list_windows, methods=["GET"]),
        Route(PREFIX + "/{name}/actions", list_actions, methods=["GET"]),
    ]


def _int_param(request: Request, name: str, default: int | None, low: int, high: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # isascii: str.isdigit() also accepts "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidArgument(f"Query parameter {name} must be an integer {bound}, got {raw!r}")
    return int(raw)
