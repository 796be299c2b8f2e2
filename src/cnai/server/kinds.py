"""The kinds of declarative resources this control plane knows, with their controllers and
extra ``/api/v1`` routes: the one place where the service packages meet the server."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from cnai.resources import Controller, SpecValidator

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

log = logging.getLogger("cnai.server")


def validators() -> dict[str, SpecValidator]:
    from cnai.deploy.specs import KIND as DEPLOYMENT
    from cnai.deploy.specs import validate_deployment_spec

    known: dict[str, SpecValidator] = {DEPLOYMENT: validate_deployment_spec}
    try:  # monitors need the [monitoring] extra (numpy, scipy); without it the kind is unknown
        from cnai.monitoring.monitor.spec import KIND as MONITOR
        from cnai.monitoring.monitor.spec import validate_monitor_spec
    except ImportError as exc:
        log.warning("Monitors are unavailable (%s): pip install 'cnai[monitoring]'", exc)
    else:
        known[MONITOR] = validate_monitor_spec
    return known


def controllers(plane: ControlPlane) -> list[Controller]:
    return []


def routes(plane: ControlPlane) -> list[BaseRoute]:
    return []
