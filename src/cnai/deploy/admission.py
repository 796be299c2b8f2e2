"""Who may deploy what (``cnai.resources.admission`` for ``kind: Deployment``).

A registry URI (``models:/name@alias``, ``models:/name/N``) serves what the registry holds: open
to editors. Anything else is a directory on the server's disk that replicas load, and loading an
MLflow model runs its code (a pyfunc's ``python_model``, pickles); so a local model, canary
included, needs the admin role and a server started with ``--allow-local-models``, and must be an
absolute path to an existing directory holding an ``MLmodel`` file (``model: /etc`` is refused
before anything is written). A router's ``port`` must not be the control plane's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.auth.principal import Principal, Role
from cnai.deploy.specs import REGISTRY_URI, parse_deployment_spec
from cnai.errors import InvalidArgument, PermissionDenied
from cnai.resources.admission import AdmissionContext

LOCAL_NEEDS = "local model directories need the admin role and a server started with --allow-local-models"


def admit_deployment(spec: dict[str, Any], principal: Principal, context: AdmissionContext) -> None:
    """The ``Admission`` of ``kind: Deployment``."""
    parsed = parse_deployment_spec(spec)
    models = [("spec.model", parsed.model)]
    if parsed.canary is not None:
        models.append(("spec.canary.model", parsed.canary.model))
    for where, uri in models:
        if not REGISTRY_URI.match(uri):
            _admit_local(where, uri, principal, context)
    if parsed.port is not None and parsed.port == context.control_plane_port:
        raise InvalidArgument(f"spec.port: {parsed.port} is the control plane's own port; choose another")


def _admit_local(where: str, uri: str, principal: Principal, context: AdmissionContext) -> None:
    problems = []
    if not principal.allows(Role.ADMIN):
        problems.append(f"{principal.name!r} has the {principal.role.label} role")
    if not context.allow_local_models:
        problems.append("this server was started without --allow-local-models")
    if problems:
        raise PermissionDenied(f"{where} {uri!r}: {LOCAL_NEEDS}; {'; '.join(problems)}")
    path = Path(uri)
    # Checked only for an admin on an opted-in server, so the answer says nothing about the
    # server's files to anyone else.
    if not path.is_absolute() or not (path / "MLmodel").is_file():
        raise InvalidArgument(
            f"{where} {uri!r} is not an MLflow model: give the absolute path of a directory holding an "
            "MLmodel file, or a registry URI (models:/name@alias, models:/name/N)"
        )
