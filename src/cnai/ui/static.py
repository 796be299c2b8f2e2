"""The UI's own files (cnai/ui/static): the vendored charting library and ``cnai.js``.

Only the names listed here are served, read once from the installed package, so a path in the
URL never reaches the file system.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

TYPES = {
    "cnai.js": "text/javascript; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("cnai.ui").joinpath("static", name).read_bytes()


async def serve(request: Request) -> Response:
    name = request.path_params["name"]
    kind = TYPES.get(name)
    if kind is None:
        return PlainTextResponse(f"No UI file {name}", status_code=404)
    # Short max-age: a new cnai version may change cnai.js, and the files are tiny to revalidate.
    return Response(_read(name), media_type=kind, headers={"Cache-Control": "public, max-age=300"})
