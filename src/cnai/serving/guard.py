"""The model server's gate (pure ASGI): the Host check and, when ``--auth-token`` is set, the token.

- Host: a loopback name, an IP address, the bind address or a name in ``--allowed-hosts``, as
  on the control plane (:mod:`cnai.auth.origin` says why); else 400 (DNS rebinding).
- Origin: a POST from a foreign browser origin (or marked ``Sec-Fetch-Site: cross-site``) -> 403.
  A page on another site can send a ``text/plain`` POST without a CORS preflight; here that
  could unload a model through the repository API or spend its CPU. Clients that are not
  browsers send no Origin and are not affected.
- Token: with ``auth_token`` set, every route but the health checks (``/v2/health/live``,
  ``/v2/health/ready``, ``/ping``, ``/health``, which probes and the router call without a
  secret) needs it as a Bearer token or the basic-auth password; else 401 with a challenge.

Errors are OIP's ``{"error": ...}``. Replicas that the deployment controller starts bind
127.0.0.1 behind the router (which sends its own ``Host: 127.0.0.1:port``) and need no token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from cnai.auth.credentials import CHALLENGE, credentials
from cnai.auth.origin import HostCheck, OriginCheck, host_name
from cnai.errors import InvalidArgument
from cnai.serving.settings import ServeSettings
from cnai.settings import Settings, is_loopback_host

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health"})


class ServeGuard:
    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.token = settings.auth_token.encode()
        self.hosts = HostCheck(settings.host, Settings.split(settings.allowed_hosts))
        self.origins = OriginCheck(())  # the server's own origin only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = authorization = origin = fetch_site = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"authorization":
                authorization = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
        if not self.hosts.allows(host):
            name = host_name((host or b"").decode("latin-1"))
            await _answer(send, 400, f"Host {name!r} is not allowed: add it with --allowed-hosts")
            return
        if (origin is not None or fetch_site is not None) and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            if not self.origins.allows(origin, host, fetch_site):
                await _answer(send, 403, "Cross-site requests are refused: call the model server from its own origin")
                return
        if self.token and scope["path"] not in OPEN_PATHS:
            secret = credentials(authorization)
            if secret is None or not hmac.compare_digest(secret, self.token):
                await _answer(send, 401, "A valid token is required: send it as a Bearer token", CHALLENGE)
                return
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def check_serve_bind(settings: ServeSettings) -> None:
    """Refuse to expose a model server without a token beyond this machine, unless --insecure."""
    if not is_loopback_host(settings.host) and not settings.auth_token and not settings.insecure:
        raise InvalidArgument(
            f"Refusing to bind {settings.host} without a token: set --auth-token (CNAI_SERVE_AUTH_TOKEN), "
            "or pass --insecure to accept the risk."
        )
