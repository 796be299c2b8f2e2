"""Roles and the principal of a request.

Three roles, ordered: ``reader`` (every GET and the read-only searches), ``editor`` (writes to
experiments, runs, models and resources), ``admin`` (tokens, the audit log, and what can reach
beyond the server's own data: command actions, local model paths, private webhook targets — each
also behind an opt-in flag of the server).

The authentication middleware stores the caller's :class:`Principal` in the ASGI scope under
``SCOPE_KEY``. A server started with no token at all (the loopback default of ``cnai up``) is a
single-user server: its caller is :data:`ANONYMOUS_ADMIN`, as with ``mlflow server``; what could
run code or reach other hosts still needs the server's opt-in flags.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnai.errors import PermissionDenied

SCOPE_KEY = "cnai.principal"


class Role(enum.IntEnum):
    READER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use reader, editor or admin") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role

    def allows(self, needed: Role) -> bool:
        return self.role >= needed


ANONYMOUS_ADMIN = Principal("anonymous", Role.ADMIN)


def principal_of(scope_or_request: Any) -> Principal:
    """The caller of a request (a Starlette ``Request`` or an ASGI scope)."""
    scope: Mapping[str, Any] = getattr(scope_or_request, "scope", scope_or_request)
    principal = scope.get(SCOPE_KEY)
    return principal if isinstance(principal, Principal) else ANONYMOUS_ADMIN


def require(principal: Principal, needed: Role, what: str) -> None:
    """Raise ``PermissionDenied`` naming ``what`` unless ``principal`` has at least ``needed``."""
    if not principal.allows(needed):
        raise PermissionDenied(
            f"{what} needs the {needed.label} role; token {principal.name!r} has {principal.role.label}"
        )
