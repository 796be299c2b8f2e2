"""The control plane's gate (pure ASGI): Host, Origin, who is calling, their role, JSON bodies,
and the audit log of writes. One place, in this order:

1. Host: not this server's name -> 400 (DNS rebinding, see :mod:`cnai.auth.origin`).
2. Origin: a write from a foreign browser origin, or marked cross-site -> 403.
3. Token: the route's role (:mod:`cnai.auth.policy`) needs credentials and they are missing or
   wrong -> 401 with a Bearer and Basic challenge; the caller's role is too low -> 403.
4. JSON: a body sent to the MLflow API or to an /api/v1 write without
   ``Content-Type: application/json`` -> 415. A cross-site page can send ``text/plain``, form
   encodings or no type at all without a CORS preflight, never JSON: this is what stops them.

Errors come in the protocol's own shape: MLflow's ``{error_code, message}`` on MLflow and artifact
routes, ``{error, code}`` on /api/v1, a small HTML page on the UI, plain text elsewhere.

**When authentication is on.** Credentials come from the bootstrap token (``--auth-token`` /
``CNAI_AUTH_TOKEN``, an admin principal named ``bootstrap``), tokens private to this process
(the controllers' own, for their replicas), and the token store. Authentication is on when a
bootstrap token is set, when the store holds at least one active token (checked through the
store's cache: creating the first token turns it on within the cache TTL on every process), or
always when the server binds beyond loopback without ``--insecure`` (so revoking the last token
never opens an exposed server). When it is off, the caller is :data:`ANONYMOUS_ADMIN`, the
single-user server of ``cnai up`` on a laptop.

The caller's :class:`Principal` is stored in ``scope["cnai.principal"]`` for handlers
(``cnai.auth.principal_of``).
"""

from __future__ import annotations

import hmac
import itertools
import secrets
from collections.abc import Mapping

import anyio.to_thread
import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cnai._clock import now_ms
from cnai.auth.audit import AuditEntry, AuditLog
from cnai.auth.credentials import CHALLENGE, credentials
from cnai.auth.origin import HostCheck, OriginCheck, host_name
from cnai.auth.policy import SAFE_METHODS, Decision, decide
from cnai.auth.principal import ANONYMOUS_ADMIN, SCOPE_KEY, Principal, Role
from cnai.auth.tokens import TokenStore
from cnai.settings import Settings

BOOTSTRAP = "bootstrap"
_UNIDENTIFIED = "unauthenticated"
# Request ids for audited writes whose client sent none: unique per process and cheap (no
# urandom per request, as uuid4 would take).
_PROCESS = secrets.token_hex(4)
_SEQUENCE = itertools.count(1)
_MAX_DECISIONS = 4096


class Authenticator:
    """Who a request's credentials name, and whether credentials are needed at all."""

    def __init__(
        self,
        *,
        bootstrap: str = "",
        tokens: TokenStore | None = None,
        internal: Mapping[str, Principal] | None = None,
        always_on: bool = False,
    ) -> None:
        self.bootstrap = bootstrap.encode()
        self.tokens = tokens
        self.internal = [(secret.encode(), p) for secret, p in (internal or {}).items()]
        self.always_on = always_on or bool(bootstrap)

    async def enabled(self) -> bool:
        if self.always_on:
            return True
        if self.tokens is None:
            return False
        cached = self.tokens.any_active_cached()
        if cached is not None:
            return cached
        return await anyio.to_thread.run_sync(self.tokens.any_active)

    async def identify(self, authorization: bytes | None) -> Principal | None:
        secret = credentials(authorization)
        if secret is None:
            return None
        if self.bootstrap and hmac.compare_digest(secret, self.bootstrap):
            return Principal(BOOTSTRAP, Role.ADMIN)
        for internal, principal in self.internal:
            if hmac.compare_digest(secret, internal):
                return principal
        if self.tokens is None:
            return None
        token = secret.decode("latin-1")
        known, found = self.tokens.cached(token)
        if known:
            return found
        return await anyio.to_thread.run_sync(self.tokens.authenticate, token)


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


class Guard:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        tokens: TokenStore | None = None,
        audit: AuditLog | None = None,
        internal: Mapping[str, Principal] | None = None,
    ) -> None:
        self.app = app
        self.hosts = HostCheck(settings.host, Settings.split(settings.allowed_hosts))
        self.origins = OriginCheck(Settings.split(settings.allowed_origins))
        self.auth = Authenticator(
            bootstrap=settings.auth_token,
            tokens=tokens,
            internal=internal,
            always_on=not settings.is_loopback and not settings.insecure,
        )
        self.audit = audit
        # Route decisions per (method, path): the MLflow API's paths are a fixed set, so the
        # policy's prefix walk runs once per path; bounded, because artifact paths are not.
        self._decisions: dict[tuple[str, str], Decision] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        decision = self._decisions.get((method, path))
        if decision is None:
            decision = decide(method, path)
            if len(self._decisions) >= _MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[(method, path)] = decision
        h = _Headers(scope["headers"])
        principal: Principal | None = None
        started = now_ms() if decision.writes else 0
        try:
            if not self.hosts.allows(h.host):
                raise _Refusal(
                    400,
                    "BAD_REQUEST",
                    f"Host {host_name((h.host or b'').decode('latin-1'))!r} is not allowed: "
                    "add it with --allowed-hosts (CNAI_ALLOWED_HOSTS)",
                )
            if decision.role is not None:
                principal = await self._identify(h.authorization)
            if method not in SAFE_METHODS and not self.origins.allows(h.origin, h.host, h.fetch_site):
                origin = (h.origin or b"").decode("latin-1") or "(cross-site)"
                raise _Refusal(
                    403,
                    "PERMISSION_DENIED",
                    f"Cross-origin write refused: origin {origin} is not allowed "
                    "(add it with --allowed-origins, CNAI_ALLOWED_ORIGINS)",
                )
            if decision.role is not None:
                if principal is None:
                    raise _Refusal(
                        401,
                        "UNAUTHENTICATED",
                        "A valid token is required: send it as a Bearer token (MLFLOW_TRACKING_TOKEN) "
                        "or as the basic-auth password.",
                    )
                if not principal.allows(decision.role):
                    raise _Refusal(
                        403,
                        "PERMISSION_DENIED",
                        f"{method} {path} needs the {decision.role.label} role; "
                        f"token {principal.name!r} has {principal.role.label}",
                    )
            if decision.json and h.has_body and not h.is_json:
                raise _Refusal(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as Content-Type: application/json")
        except _Refusal as refusal:
            await _refuse(send, decision.family, refusal)
            if decision.writes:
                self._record(scope, h, principal, refusal.status, started)
            return
        if principal is not None:
            scope[SCOPE_KEY] = principal
        if not decision.writes or self.audit is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, h, principal, status, started)

    async def _identify(self, authorization: bytes | None) -> Principal | None:
        try:
            if not await self.auth.enabled():
                return ANONYMOUS_ADMIN
            return await self.auth.identify(authorization)
        except SQLAlchemyError:  # a cache miss met a store that is down: the client may retry
            raise _Refusal(
                503, "TEMPORARILY_UNAVAILABLE", "The metadata store is busy or unreachable; retry shortly"
            ) from None

    def _record(self, scope: Scope, h: _Headers, principal: Principal | None, status: int, started: int) -> None:
        if self.audit is None:
            return
        client = scope.get("client")
        request_id = (h.request_id or b"").decode("latin-1")[:64] or f"{_PROCESS}-{next(_SEQUENCE)}"
        self.audit.record(
            AuditEntry(
                ts=started,
                principal=principal.name if principal else _UNIDENTIFIED,
                role=principal.role.label if principal else "",
                method=scope["method"],
                path=scope["path"][:2048],
                status=status,
                request_id=request_id,
                client=str(client[0])[:64] if client else "",
            )
        )


class _Headers:
    """The few request headers the gate reads, found in one pass."""

    __slots__ = ("authorization", "content_type", "fetch_site", "has_body", "host", "origin", "request_id")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.host = self.origin = self.fetch_site = self.authorization = self.content_type = self.request_id = None
        self.has_body = False
        for name, value in raw:
            if name == b"host":
                self.host = value
            elif name == b"authorization":
                self.authorization = value
            elif name == b"content-type":
                self.content_type = value
            elif name == b"content-length":
                self.has_body = value.strip() != b"0"
            elif name == b"transfer-encoding":
                self.has_body = True
            elif name == b"origin":
                self.origin = value
            elif name == b"sec-fetch-site":
                self.fetch_site = value
            elif name == b"x-request-id":
                self.request_id = value

    @property
    def is_json(self) -> bool:
        if self.content_type is None:
            return False
        return self.content_type.partition(b";")[0].strip().lower() == b"application/json"


# MLflow's error vocabulary has no code for these; BAD_REQUEST with the right status is its way.
_MLFLOW_CODES = {"UNSUPPORTED_MEDIA_TYPE": "BAD_REQUEST"}


async def _refuse(send: Send, family: str, refusal: _Refusal) -> None:
    if family in ("mlflow", "artifacts"):
        code = _MLFLOW_CODES.get(refusal.code, refusal.code)
        body, ctype = orjson.dumps({"error_code": code, "message": refusal.message}), b"application/json"
    elif family in ("v1", "admin"):
        body, ctype = orjson.dumps({"error": refusal.message, "code": refusal.code}), b"application/json"
    elif family == "ui":
        body, ctype = _html(refusal), b"text/html; charset=utf-8"
    else:
        body, ctype = refusal.message.encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    if refusal.status == 401:
        headers += CHALLENGE
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _html(refusal: _Refusal) -> bytes:
    from html import escape

    title = {400: "Bad request", 401: "Sign in", 403: "Forbidden", 415: "Unsupported media type"}.get(
        refusal.status, "Refused"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>cnai: {title}</title></head>'
        f"<body><h1>{refusal.status} {title}</h1><p>{escape(refusal.message)}</p></body></html>"
    ).encode()
