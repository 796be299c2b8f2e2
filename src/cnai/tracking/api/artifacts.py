"""The ``mlflow-artifacts`` proxy: uploads, downloads and listings through this server.

Uploads stream from the request into the store's writer (``ArtifactStore.writer``) in 1 MiB
pieces, each written in the threadpool: a local store writes a temporary file beside the target
and renames it, S3 gets a multipart upload fed part by part (a PutObject for small bodies). No
copy of the upload lands in the system's temporary directory and memory stays bounded by the
S3 part size, whatever the artifact's size. A client that disconnects, or a body over the limit,
aborts the writer: nothing half-written becomes visible and no multipart upload is left behind.
Every path goes through ``safe_relpath`` before it reaches a store.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Sequence

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cnai.artifacts import ArtifactStore, safe_relpath
from cnai.errors import PayloadTooLarge
from cnai.tracking.api.responses import JSON, error_response, ok

FLUSH_BYTES = 1024 * 1024


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return error_response(exc, request)

    return endpoint


def routes(prefixes: Sequence[str], store: ArtifactStore, max_upload_bytes: int) -> list[Route]:
    async def upload(request: Request) -> Response:
        path = safe_relpath(request.path_params["path"])
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload_bytes:  # refused before a byte is stored
            raise PayloadTooLarge(f"Artifact exceeds the upload limit of {max_upload_bytes} bytes")
        out = await run_in_threadpool(store.writer, path)
        try:
            size = 0
            pending = bytearray()
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_upload_bytes:
                    raise PayloadTooLarge(f"Artifact exceeds the upload limit of {max_upload_bytes} bytes")
                pending += chunk
                if len(pending) >= FLUSH_BYTES:  # disk or network writes: off the loop
                    await run_in_threadpool(out.write, bytes(pending))
                    pending.clear()
            if pending:
                await run_in_threadpool(out.write, bytes(pending))
            await run_in_threadpool(out.commit)
        except BaseException:
            # Shielded: a cancelled request must still abort, or S3 keeps the parts uploaded so far.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(out.abort)
            raise
        return ok()

    async def download(request: Request) -> Response:
        path = safe_relpath(request.path_params["path"])
        chunks, size = await run_in_threadpool(store.open, path)
        headers = {"Content-Length": str(size)}
        return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)

    async def delete(request: Request) -> Response:
        await run_in_threadpool(store.delete, safe_relpath(request.path_params["path"]))
        return ok()

    async def listing(request: Request) -> Response:
        path = safe_relpath(request.query_params.get("path", ""))
        infos = await run_in_threadpool(store.list, path)
        files = []
        for info in infos:
            # The client joins each entry onto the listed directory itself.
            entry: dict[str, object] = {
                "path": posixpath.basename(info.path.rstrip("/")),
                "is_dir": info.is_dir,
            }
            if not info.is_dir and info.file_size is not None:
                entry["file_size"] = info.file_size
            files.append(entry)
        return JSON({"files": files}) if files else ok()

    result = []
    for prefix in prefixes:
        base = f"{prefix}/artifacts"
        result += [
            Route(base, _guarded(listing), methods=["GET"]),
            Route(base + "/{path:path}", _guarded(upload), methods=["PUT"]),
            Route(base + "/{path:path}", _guarded(download), methods=["GET"]),
            Route(base + "/{path:path}", _guarded(delete), methods=["DELETE"]),
        ]
    return result
