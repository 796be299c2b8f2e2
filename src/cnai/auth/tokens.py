"""Named API tokens with a role, hashed at rest.

A token reads ``cnai_<id>_<secret>``: ``id`` (12 hex characters) is the row's key and may show
in logs, ``secret`` (43 URL-safe characters, 256 random bits) is shown once at creation and stored
only as its SHA-256. A fast hash is enough here, unlike for passwords: slow hashes (bcrypt,
scrypt) exist to make guessing low-entropy secrets expensive, and nobody guesses 256 random bits,
so a stolen table reveals nothing usable. A fast hash also keeps the check per request at a
microsecond. Hashes are compared with ``hmac.compare_digest``, in constant time.

Lookups are cached in the process for ``ttl_seconds`` (5 s by default, ``CNAI_TOKEN_CACHE_SECONDS``)
so the request path does not query the database per request: a revocation, and the first token
created (which turns authentication on, see :mod:`cnai.auth.middleware`), take effect on every
server process sharing the store within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, exists, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from cnai._clock import now_ms
from cnai.auth.principal import Principal, Role
from cnai.db.engine import read_tx, write_tx
from cnai.db.schema import tokens as tokens_table
from cnai.errors import AlreadyExists, InvalidArgument, NotFound

PREFIX = "cnai_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# Names the server itself uses for callers that are not stored tokens: reserved to keep the
# audit log unambiguous.
RESERVED_NAMES = frozenset({"bootstrap", "anonymous", "controller", "unauthenticated"})
_MAX_CACHED = 10_000  # a flood of made-up token ids must not grow the cache without end


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    name: str
    role: Role
    token_id: str
    created_at: int
    revoked_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.label,
            "id": self.token_id,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class _Row:
    principal: Principal
    digest: bytes
    revoked: bool


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != 12 or not secret:
        return None
    return token_id, secret


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class TokenStore:
    """Create, list, revoke and check named tokens in the metadata store."""

    def __init__(
        self, engine: Engine, *, ttl_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine = engine
        self.ttl = ttl_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[float, _Row | None]] = {}
        self._any_active: tuple[float, bool] | None = None

    # ---- administration (CLI, admin API) -------------------------------------------------------
    def create(self, name: str, role: Role) -> tuple[TokenInfo, str]:
        """A new token; the plaintext is returned here and never again."""
        if not _NAME.match(name):
            raise InvalidArgument(
                f"Invalid token name {name!r}: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if name.lower() in RESERVED_NAMES:
            raise InvalidArgument(f"The token name {name!r} is reserved")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        info = TokenInfo(name, role, token_id, now_ms())
        with write_tx(self.engine) as conn:
            held = conn.execute(select(tokens_table.c.revoked_at).where(tokens_table.c.name == name)).one_or_none()
            if held is not None and held.revoked_at is None:
                raise AlreadyExists(f"A token named {name!r} exists: revoke it first to replace it")
            if held is not None:  # a revoked token's name is free again
                conn.execute(delete(tokens_table).where(tokens_table.c.name == name))
            conn.execute(
                insert(tokens_table).values(
                    token_id=token_id,
                    name=name,
                    role=role.label,
                    secret_sha256=_digest(secret).hex(),
                    created_at=info.created_at,
                )
            )
        self.invalidate()
        return info, f"{PREFIX}{token_id}_{secret}"

    def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        query = select(tokens_table).order_by(tokens_table.c.name)
        if not include_revoked:
            query = query.where(tokens_table.c.revoked_at.is_(None))
        with read_tx(self.engine) as conn:
            rows = conn.execute(query).all()
        return [TokenInfo(r.name, Role.parse(r.role), r.token_id, r.created_at, r.revoked_at) for r in rows]

    def revoke(self, name: str) -> TokenInfo:
        with write_tx(self.engine) as conn:
            row = conn.execute(
                select(tokens_table).where(tokens_table.c.name == name, tokens_table.c.revoked_at.is_(None))
            ).one_or_none()
            if row is None:
                raise NotFound(f"No active token named {name!r}")
            revoked_at = now_ms()
            conn.execute(
                update(tokens_table).where(tokens_table.c.token_id == row.token_id).values(revoked_at=revoked_at)
            )
        self.invalidate()  # this process at once; the others within the TTL
        return TokenInfo(row.name, Role.parse(row.role), row.token_id, row.created_at, revoked_at)

    def invalidate(self) -> None:
        with self._lock:
            self._rows.clear()
            self._any_active = None

    # ---- the request path ----------------------------------------------------------------------
    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """``(known, principal)`` from the cache alone: when ``known`` is False the cache cannot
        say, and the caller runs :meth:`authenticate` (which may query the store) off the loop."""
        parts = split_token(token)
        if parts is None:
            return True, None
        entry = self._rows.get(parts[0])
        if entry is None or entry[0] <= self.clock():
            return False, None
        return True, _check(entry[1], parts[1])

    def authenticate(self, token: str) -> Principal | None:
        """The principal of ``token``, or None for a malformed, unknown, wrong or revoked one."""
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        now = self.clock()
        entry = self._rows.get(token_id)
        if entry is None or entry[0] <= now:
            with read_tx(self.engine) as conn:
                found = conn.execute(select(tokens_table).where(tokens_table.c.token_id == token_id)).one_or_none()
            row = None
            if found is not None:
                row = _Row(
                    Principal(found.name, Role.parse(found.role)),
                    bytes.fromhex(found.secret_sha256),
                    found.revoked_at is not None,
                )
            with self._lock:
                if len(self._rows) >= _MAX_CACHED:
                    self._rows.clear()
                self._rows[token_id] = entry = (now + self.ttl, row)
        return _check(entry[1], secret)

    def any_active_cached(self) -> bool | None:
        """Whether the store holds an active token, from the cache; None when it cannot say."""
        entry = self._any_active
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def any_active(self) -> bool:
        cached = self.any_active_cached()
        if cached is not None:
            return cached
        with read_tx(self.engine) as conn:
            found = bool(conn.execute(select(exists().where(tokens_table.c.revoked_at.is_(None)))).scalar())
        self._any_active = (self.clock() + self.ttl, found)
        return found


def _check(row: _Row | None, secret: str) -> Principal | None:
    if row is None:
        # Hash anyway, so an unknown id and a wrong secret take the same time.
        hmac.compare_digest(_digest(secret), b"\0" * 32)
        return None
    if not hmac.compare_digest(_digest(secret), row.digest) or row.revoked:
        return None
    return row.principal


def store_has_active_tokens(url: str) -> bool:
    """Whether the store at ``url`` holds an active token (for the bind check at start-up);
    False when it cannot be read, e.g. not migrated yet."""
    from cnai.db.engine import make_engine

    engine = make_engine(url)
    try:
        return TokenStore(engine, ttl_seconds=0).any_active()
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
