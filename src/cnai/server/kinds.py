"""The kinds of declarative resources this control plane knows, with their controllers and
extra ``/api/v1`` routes: the one place where the service packages meet the server."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from starlette.routing import BaseRoute

from cnai.resources import Admission, AdmissionContext, Controller, ResourceStore, SpecValidator
from cnai.settings import Settings

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane

log = logging.getLogger("cnai.server")


def resource_store(engine: Engine, settings: Settings) -> ResourceStore:
    """Desired state with every kind's validator and admission, under this server's opt-ins."""
    return ResourceStore(
        engine, validators(), admissions=admissions(), context=AdmissionContext.from_settings(settings)
    )


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


def admissions() -> dict[str, Admission]:
    """Per kind, what a caller may ask of this server (``cnai.resources.admission``)."""
    from cnai.deploy.admission import admit_deployment
    from cnai.deploy.specs import KIND as DEPLOYMENT

    known: dict[str, Admission] = {DEPLOYMENT: admit_deployment}
    try:
        from cnai.monitoring.monitor.admission import admit_monitor
        from cnai.monitoring.monitor.spec import KIND as MONITOR
    except ImportError:  # no [monitoring] extra: the kind is unknown (see validators)
        pass
    else:
        known[MONITOR] = admit_monitor
    return known


def controllers(plane: ControlPlane) -> list[Controller]:
    """The reconcile loops `cnai up` runs beside the API, all reporting into the plane's /metrics."""
    from cnai.deploy.controller import DeploymentController
    from cnai.events import bus_from_url

    settings = plane.settings
    # Replicas resolve models:/ URIs against this very control plane and write their inference
    # log to the same event bus the monitors read.
    own_url = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    running: list[Controller] = [
        DeploymentController(
            plane.resources,
            tracking_uri=own_url,
            tracking_token=plane.internal_token,  # reader, for this process only (see ControlPlane)
            home=settings.home,
            registry=plane.metrics,
            serve_args=["--event-bus", settings.event_bus],
        )
    ]
    if "Monitor" in plane.resources.kinds:
        from cnai.monitoring.monitor.controller import MonitorController
        from cnai.monitoring.monitor.reference import ArtifactReferenceLoader

        # Offsets applied are stored in the database per consumer group: one group per bus, so
        # a plane pointed at another bus (the quickstart's, a Kafka cluster) starts that bus's
        # log from the beginning instead of skipping to offsets that belong to a different log.
        group = "cnai-monitors-" + hashlib.sha1(settings.event_bus.encode()).hexdigest()[:10]
        running.append(
            MonitorController(
                plane.engine,
                plane.resources,
                bus_from_url(settings.event_bus),
                plane.metrics,
                reference_loader=ArtifactReferenceLoader(plane.artifacts, plane.runs, plane.registry),
                group=group,
                context=plane.resources.context,  # the opt-ins, checked again before each action runs
            )
        )
    return running


def routes(plane: ControlPlane) -> list[BaseRoute]:
    """cnai's own API beyond /api/v1/resources: promote and rollback, monitor windows, feedback."""
    from cnai.deploy.api import deploy_routes

    extra: list[BaseRoute] = [*deploy_routes(plane.resources, plane.registry)]
    if "Monitor" in plane.resources.kinds:
        from cnai.monitoring.feedback import feedback_routes
        from cnai.monitoring.monitor.api import monitor_routes

        extra += [*monitor_routes(plane.engine), *feedback_routes(plane.engine)]
    return extra
