"""The control-plane app: MLflow tracking + registry API, artifact proxy, health."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from cnai import __version__
from cnai.artifacts import ArtifactStore, store_from_uri
from cnai.auth import Principal, Role
from cnai.auth.audit import AuditLog
from cnai.auth.middleware import Guard
from cnai.auth.tokens import TokenStore
from cnai.db.engine import is_sqlite, make_engine
from cnai.db.migrate import upgrade
from cnai.errors import CnaiError
from cnai.pipelines import api as pipelines_api
from cnai.registry import api as registry_api
from cnai.registry.store import RegistryStore
from cnai.resources import Controller, ResourceStore
from cnai.resources import api as resources_api
from cnai.resources.http import json_response
from cnai.server import kinds
from cnai.server.auth import admin_routes
from cnai.settings import Settings
from cnai.tracking.api import artifacts as artifacts_api
from cnai.tracking.api import experiments as experiments_api
from cnai.tracking.api import logged_models as logged_models_api
from cnai.tracking.api import runs as runs_api
from cnai.tracking.api.responses import JSON, error, on_cnai_error, on_unexpected
from cnai.tracking.api.rpc import RpcFastPath, fast_table, to_routes
from cnai.tracking.experiments import ExperimentStore
from cnai.tracking.logged_models import LoggedModelStore
from cnai.tracking.runs import RunStore
from cnai.ui import ui_routes

log = logging.getLogger("cnai.server")

API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
MAX_UPLOAD_BYTES = 64 * 1024**3
V1_PREFIX = "/api/v1"


@dataclass
class ControlPlane:
    """Everything the app is built from; kept on ``app.state.plane`` for tests and lifespan."""

    settings: Settings
    engine: Engine
    experiments: ExperimentStore
    runs: RunStore
    logged_models: LoggedModelStore
    registry: RegistryStore
    artifacts: ArtifactStore
    resources: ResourceStore
    tokens: TokenStore
    audit: AuditLog
    # A reader token private to this process, for what its controllers start (replicas download
    # registry models with it); never stored, gone with the process.
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Controllers and cnai's own API export here; served at GET /metrics.
    metrics: CollectorRegistry = field(default_factory=lambda: _plane_registry())


def _plane_registry() -> CollectorRegistry:
    """The plane's own registry (not the global one: several planes share a process in tests), with
    the process series (CPU, memory, open files) and python_info that the default registry has, so
    the control plane's dashboard shows its load even when no controller reports."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def build_plane(settings: Settings, *, migrate: bool = True) -> ControlPlane:
    engine = make_engine(settings.store)
    if migrate:
        upgrade(engine)
    experiments = ExperimentStore(engine)
    experiments.ensure_default()
    return ControlPlane(
        settings=settings,
        engine=engine,
        experiments=experiments,
        runs=RunStore(engine),
        logged_models=LoggedModelStore(engine),
        registry=RegistryStore(engine),
        artifacts=store_from_uri(settings.artifacts, s3_endpoint_url=settings.s3_endpoint_url),
        resources=kinds.resource_store(engine, settings),
        tokens=TokenStore(engine, ttl_seconds=settings.token_cache_seconds),
        audit=AuditLog(engine, retention_s=settings.audit_retention_days * 86400),
    )


def create_app(settings: Settings, *, migrate: bool = True, with_controllers: bool = False) -> Starlette:
    """The control plane's ASGI app; ``with_controllers`` also runs the deployment and monitor
    controllers in its lifespan (``cnai up``). ``cnai server`` leaves them off, so several API
    processes never run two controllers over the same desired state."""
    plane = build_plane(settings, migrate=migrate)
    controllers: list[Controller] = kinds.controllers(plane) if with_controllers else []
    max_body = settings.max_json_body_bytes
    endpoints = [
        *experiments_api.endpoints(plane.experiments),
        *runs_api.endpoints(plane.runs),
        *logged_models_api.endpoints(plane.logged_models),
        *registry_api.endpoints(plane.registry),
    ]
    # Inline handlers only where this process is SQLite's sole writer (see rpc.py); with several
    # workers a handler could wait on another process's write lock and stall the loop.
    inline = is_sqlite(plane.engine) and settings.workers == 1
    routes: list[BaseRoute] = [
        Route("/health", _health, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
        Route("/api/3.0/mlflow/server-info", _server_info, methods=["GET"]),
        *to_routes(API_PREFIXES, endpoints, max_body, inline=inline),
        *artifacts_api.routes(ARTIFACT_PREFIXES, plane.artifacts, MAX_UPLOAD_BYTES),
        *resources_api.routes(plane.resources),
        *pipelines_api.routes(plane.runs),
        *kinds.routes(plane),
        *admin_routes(plane.tokens, plane.audit),
        Route("/metrics", _metrics, methods=["GET"]),
        *ui_routes(json_index=_index),  # the web UI; "/" still answers JSON to JSON-only clients
    ]
    internal = {plane.internal_token: Principal("controller", Role.READER)}
    middleware = [
        Middleware(Guard, settings=settings, tokens=plane.tokens, audit=plane.audit, internal=internal),
        # Inside the gate: what it answers has passed the Host, Origin, token and audit steps.
        Middleware(RpcFastPath, table=fast_table(API_PREFIXES, endpoints, max_body, inline=inline)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started: list[Controller] = []
        try:
            for controller in controllers:
                await controller.start()
                started.append(controller)
                log.info("controller %s started", controller.name)
            yield
        finally:
            for controller in reversed(started):
                try:
                    await controller.stop()
                except Exception:  # one controller's failure must not keep the others running
                    log.exception("controller %s failed to stop cleanly", controller.name)
            plane.audit.close()

    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            CnaiError: on_cnai_error,
            HTTPException: _on_http_error,
            Exception: on_unexpected,
        },
    )
    app.state.plane = plane
    app.state.controllers = controllers
    return app


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        code, message = "ENDPOINT_NOT_FOUND", f"No endpoint {request.method} {request.url.path}"
    elif exc.status_code == 405:
        code, message = "BAD_REQUEST", f"Method {request.method} is not allowed on {request.url.path}"
    else:
        code, message = "BAD_REQUEST", str(exc.detail)
    # An unknown path or method under /api/v1 answers in that API's shape, not MLflow's.
    if request.url.path == V1_PREFIX or request.url.path.startswith(V1_PREFIX + "/"):
        return json_response({"error": message, "code": code}, exc.status_code)
    return error(code, message, exc.status_code)


async def _health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def _version(request: Request) -> Response:
    return PlainTextResponse(__version__)


async def _metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.plane.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def _server_info(request: Request) -> Response:
    # Probed by the client's artifact repository; multipart stays off, plain PUT/GET is used.
    return JSON({"store_type": "SqlStore", "multipart_uploads_enabled": False, "multipart_downloads_enabled": False})


async def _index(request: Request) -> Response:
    return JSON(
        {
            "service": "cnai control plane",
            "version": __version__,
            "mlflow_tracking_uri": str(request.base_url).rstrip("/"),
            "health": "/health",
        }
    )
