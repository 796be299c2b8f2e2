"""Admin routes of cnai's own API: named tokens and the audit log.

- ``GET /api/v1/tokens`` (``?all=true`` includes revoked ones) lists tokens, never their secrets;
- ``POST /api/v1/tokens`` with ``{"name", "role"}`` creates one and answers its plaintext once;
- ``DELETE /api/v1/tokens/{name}`` revokes one (every process refuses it within the cache TTL);
- ``GET /api/v1/audit?limit=N`` answers the newest audit entries, newest first.

The gate (:mod:`cnai.auth.middleware`) already requires the admin role on these paths
(:mod:`cnai.auth.policy`); the handlers check it again so that they stay safe wherever mounted.
Authentication itself lives in :mod:`cnai.auth`.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.auth import Role, principal_of, require
from cnai.auth.audit import AuditLog
from cnai.auth.tokens import TokenStore
from cnai.errors import InvalidArgument
from cnai.resources.http import handler, json_response, read_json

MAX_AUDIT_LIMIT = 10_000


def admin_routes(tokens: TokenStore, audit: AuditLog) -> list[Route]:
    @handler
    async def list_tokens(request: Request) -> Response:
        require(principal_of(request), Role.ADMIN, "Listing tokens")
        everything = request.query_params.get("all", "").lower() in ("1", "true", "yes")
        found = await run_in_threadpool(lambda: tokens.list(include_revoked=everything))
        return json_response({"tokens": [t.to_dict() for t in found]})

    @handler
    async def create_token(request: Request) -> Response:
        require(principal_of(request), Role.ADMIN, "Creating tokens")
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise InvalidArgument('Send {"name": NAME, "role": "reader" | "editor" | "admin"}')
        try:
            role = Role.parse(str(body.get("role", "reader")))
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        info, plaintext = await run_in_threadpool(tokens.create, body["name"], role)
        return json_response({**info.to_dict(), "token": plaintext}, 201)

    @handler
    async def revoke_token(request: Request) -> Response:
        require(principal_of(request), Role.ADMIN, "Revoking tokens")
        info = await run_in_threadpool(tokens.revoke, request.path_params["name"])
        return json_response(info.to_dict())

    @handler
    async def read_audit(request: Request) -> Response:
        require(principal_of(request), Role.ADMIN, "Reading the audit log")
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_AUDIT_LIMIT:
            raise InvalidArgument(f"limit must be an integer from 1 to {MAX_AUDIT_LIMIT}")
        entries = await run_in_threadpool(audit.recent, int(raw))
        return json_response({"entries": [e.to_dict() for e in entries]})

    return [
        Route("/api/v1/tokens", list_tokens, methods=["GET"]),
        Route("/api/v1/tokens", create_token, methods=["POST"]),
        Route("/api/v1/tokens/{name}", revoke_token, methods=["DELETE"]),
        Route("/api/v1/audit", read_audit, methods=["GET"]),
    ]
