"""Admission: what a spec may make the server do, decided per caller before anything is written.

Validation says whether a spec is well formed; admission says whether *this caller* may ask for
it on *this server*, as Kubernetes' admission controllers do after schema validation. Each kind
registers one :data:`Admission` function beside its validator (``cnai.server.kinds``). It gets
the normalised spec, the caller's :class:`~cnai.auth.Principal` and the server's opt-ins
(:class:`AdmissionContext`), and raises ``PermissionDenied`` with one sentence naming what is
missing. Reaching beyond the server's own data (running a program, reading a local directory,
calling a private address) needs the admin role *and* an opt-in flag of the server, so that a
leaked editor token, or an admin token on a server started without the flag, cannot do it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnai.auth.principal import Principal, Role

if TYPE_CHECKING:
    from cnai.settings import Settings

# What internal writers act as: promote, rollback and a controller's automatic rollback rewrite a
# spec that was admitted when a user applied it, so they pass as admin (the opt-ins still apply).
SYSTEM = Principal("system", Role.ADMIN)


@dataclass(frozen=True)
class AdmissionContext:
    """The server's opt-ins, from :class:`~cnai.settings.Settings`; the default allows nothing."""

    allow_command_actions: bool = False
    command_allowlist: tuple[str, ...] = ()
    allow_local_models: bool = False
    webhook_allowlist: tuple[str, ...] = ()
    control_plane_port: int | None = None  # a Deployment's router must not take the plane's own port
    # (kind, name) -> the stored spec, or None: for a spec that depends on another resource's
    # (a Monitor's prompts need its Deployment to log them). Set by the ResourceStore.
    stored_spec: Callable[[str, str], dict[str, Any] | None] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> AdmissionContext:
        return cls(
            allow_command_actions=settings.allow_command_actions,
            command_allowlist=tuple(settings.split(settings.command_allowlist)),
            allow_local_models=settings.allow_local_models,
            webhook_allowlist=tuple(settings.split(settings.webhook_allowlist)),
            control_plane_port=settings.port,
        )


# (normalised spec, caller, server opt-ins) -> None, or PermissionDenied / InvalidArgument.
Admission = Callable[[dict[str, Any], Principal, AdmissionContext], None]
