"""Reading a token from a request, and the challenge that asks for one.

The stock mlflow client sends ``Authorization: Bearer $MLFLOW_TRACKING_TOKEN``, or basic auth from
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``; both are accepted, the password being
the token (the user name is ignored). The 401 offers Basic too, so a browser opening the web UI
prompts for it.
"""

from __future__ import annotations

import base64
import binascii

CHALLENGE = [
    (b"www-authenticate", b'Bearer realm="cnai"'),
    (b"www-authenticate", b'Basic realm="cnai", charset="UTF-8"'),
]


def credentials(authorization: bytes | None) -> bytes | None:
    """The token in an ``Authorization`` header (Bearer, or the Basic password), else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(b" ")
    scheme = scheme.lower()
    if scheme == b"bearer":
        return value.strip() or None
    if scheme == b"basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        _, sep, password = decoded.partition(b":")
        return password if sep and password else None
    return None
