"""Token authentication for the control plane (pure ASGI middleware).

The stock mlflow client sends ``Authorization: Bearer $MLFLOW_TRACKING_TOKEN`` or basic auth from
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``; both are accepted, the password being
the token. Health checks stay open so load balancers and probes need no secret. The 401 offers
Basic too, so a browser opening the web UI prompts for it (any user name, the token as password).
"""

from __future__ import annotations

import base64
import hmac

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health", "/version"})


class TokenAuth:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps({"error_code": "UNAUTHENTICATED", "message": "A valid token is required."})
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="cnai"'),
                    (b"www-authenticate", b'Basic realm="cnai", charset="UTF-8"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope: Scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() == b"bearer":
            return hmac.compare_digest(credentials.strip(), self.token)
        if scheme.lower() == b"basic":
            try:
                _, _, password = base64.b64decode(credentials.strip(), validate=True).partition(b":")
            except ValueError:
                return False
            return hmac.compare_digest(password, self.token)
        return False
