"""Who may put which actions in a Monitor (``cnai.resources.admission``), and the same policy
checked again when an action runs.

- ``command`` runs a program as the server's user: it needs the admin role, a server started with
  ``--allow-command-actions``, and ``argv[0]`` resolving to a program on ``--command-allowlist``
  (names or paths, compared by the real path they resolve to, so ``python`` and
  ``/usr/bin/python3`` are the same entry and a symlink cannot smuggle in another program).
- ``webhook`` to a public address is open to editors; one whose host resolves to a loopback,
  private, link-local, multicast or reserved address needs the admin role and the host (or a
  network holding the address) on ``--webhook-allowlist`` (see :mod:`.egress`).
- ``alert`` writes to the server's own event bus: open to editors.
- ``tests.promptDrift`` on a Deployment that exists and does not log prompts
  (``llm.captureContent``) is refused with a 400 saying so: its windows would hold no prompt.

At run time there is no caller any more, only the server: :func:`command_refusal` and the
delivery's address check re-apply the server's opt-ins, so a spec stored while a flag was on does
not run on a server restarted without it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

import httpx

from cnai.auth.principal import Principal, Role
from cnai.errors import InvalidArgument, PermissionDenied
from cnai.monitoring.monitor import egress
from cnai.monitoring.monitor.spec import parse_monitor_spec
from cnai.resources.admission import AdmissionContext

COMMAND_NEEDS = (
    "command actions need the admin role and a server started with --allow-command-actions, "
    "and run only programs on --command-allowlist"
)
WEBHOOK_NEEDS = (
    "webhooks to loopback, private or link-local addresses need the admin role and the host "
    "(or its network) on --webhook-allowlist"
)


def admit_monitor(spec: dict[str, Any], principal: Principal, context: AdmissionContext) -> None:
    """The ``Admission`` of ``kind: Monitor``: raises PermissionDenied naming the first action
    this caller may not create on this server."""
    parsed = parse_monitor_spec(spec)
    if parsed.tests.prompt_drift is not None and parsed.target.deployment is not None:
        _check_prompts_logged(parsed.target.deployment.name, context)
    for index, action in enumerate(parsed.actions):
        where = f"actions[{index}]"
        if action.command is not None:
            problems = [] if principal.allows(Role.ADMIN) else [_role(principal)]
            refused = command_refusal(action.command.argv, context)
            if refused:
                problems.append(refused)
            if problems:
                raise PermissionDenied(f"{where}: {COMMAND_NEEDS}; {'; '.join(problems)}")
        elif action.webhook is not None:
            url = httpx.URL(action.webhook.url)
            # A name that does not resolve now is let through: nothing can be judged, and the
            # delivery resolves and checks again before it connects.
            addresses = egress.resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
            if not egress.non_public(addresses):
                continue
            problems = [] if principal.allows(Role.ADMIN) else [_role(principal)]
            refused = egress.refusal(url.host, addresses, context.webhook_allowlist)
            if refused:
                problems.append(refused)
            if problems:
                raise PermissionDenied(f"{where}: {WEBHOOK_NEEDS}; {'; '.join(problems)}")


def _check_prompts_logged(deployment: str, context: AdmissionContext) -> None:
    """A Deployment not applied yet passes (it may come next in the same file): its windows will
    say what is missing."""
    stored = context.stored_spec("Deployment", deployment) if context.stored_spec is not None else None
    if stored is not None and not (stored.get("llm") or {}).get("captureContent"):
        raise InvalidArgument(
            f"tests.promptDrift reads the prompts in deployment {deployment!r}'s inference events, and it does "
            "not log them: set spec.llm.captureContent: true on that Deployment (cnai serve --llm-capture-content)"
        )


def command_refusal(argv: Sequence[str], context: AdmissionContext) -> str | None:
    """Why this server will not run ``argv`` (its opt-in and allow-list; not the caller's role)."""
    if not context.allow_command_actions:
        return "this server was started without --allow-command-actions"
    program = resolve_program(argv[0])
    if program is None:
        return f"{argv[0]!r} is not an executable program on this server"
    allowed = {os.path.realpath(found) for entry in context.command_allowlist if (found := resolve_program(entry))}
    if os.path.realpath(program) not in allowed:
        return f"{argv[0]!r} is not on --command-allowlist"
    return None


def resolve_program(name: str) -> str | None:
    """The absolute path ``name`` runs as: looked up on PATH, or a path to an executable file.

    Not the real path: a virtual environment's ``python`` is a symlink whose location selects the
    environment, so the command runs the path found here, and only the comparison with the
    allow-list uses real paths."""
    found = shutil.which(name)
    return os.path.abspath(found) if found else None


def _role(principal: Principal) -> str:
    return f"{principal.name!r} has the {principal.role.label} role"
