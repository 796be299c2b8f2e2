"""`cnai controller monitor`: the monitor controller alone, with /health and /metrics.

On Kubernetes each rendered Monitor runs as its own Deployment (``-f`` with the spec from a
ConfigMap), and the Helm chart runs one controller for every Monitor in the store (no ``-f``).
Both talk to the same database and event bus as the control plane (CNAI_STORE, CNAI_EVENT_BUS,
CNAI_ARTIFACTS), and neither runs the deployment controller or the API.

- Without ``-f`` the process takes the store's controller lock (``cnai.db.lock``), as `cnai up`
  does: two controllers over all monitors would judge the same windows twice.
- With ``-f`` the specs are applied to the store first (validated and admitted as the system,
  under this process's opt-ins), and only those monitors run, in a consumer group of their own
  so that each such controller reads every inference event.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cnai import listen
from cnai.db import lock as store_lock
from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.errors import InvalidArgument
from cnai.resources import SYSTEM, load_documents
from cnai.settings import Settings

log = logging.getLogger("cnai.monitor-controller")


def apply_monitor_files(files: list[Path], settings: Settings) -> list[str]:
    """Validate and store the Monitors in ``files``; their names. Other kinds are refused."""
    from cnai.server.app import build_plane

    docs = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidArgument(f"Cannot read {path}: {exc.strerror or exc}") from None
        for doc in load_documents(text):
            if doc.kind != "Monitor":
                raise InvalidArgument(f"{path}: {doc.kind} {doc.name}: `cnai controller monitor` runs Monitors only")
            docs.append(doc)
    plane = build_plane(settings)
    try:
        for doc in docs:
            plane.resources.apply(doc, principal=SYSTEM)
    finally:
        plane.engine.dispose()
    return [doc.name for doc in docs]


def build_app(settings: Settings, only: frozenset[str] | None) -> Starlette:
    from cnai.events import bus_from_url
    from cnai.monitoring.monitor.controller import MonitorController
    from cnai.monitoring.monitor.reference import ArtifactReferenceLoader
    from cnai.server.app import build_plane

    plane = build_plane(settings, migrate=False)
    if "Monitor" not in plane.resources.kinds:
        raise InvalidArgument("Monitors need pip install 'cnai[monitoring]'")
    group = "cnai-monitors-" + hashlib.sha1(settings.event_bus.encode()).hexdigest()[:10]
    if only is not None:  # a group of its own: a shared group would split the events between us
        group += "-" + hashlib.sha1(",".join(sorted(only)).encode()).hexdigest()[:8]
    controller = MonitorController(
        plane.engine,
        plane.resources,
        bus_from_url(settings.event_bus),
        plane.metrics,
        reference_loader=ArtifactReferenceLoader(plane.artifacts, plane.runs, plane.registry),
        group=group,
        context=plane.resources.context,
        only=only,
    )

    async def health(request: Request) -> Response:
        return PlainTextResponse("OK")

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(plane.metrics), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await controller.start()
        log.info("monitor controller started (%s)", ", ".join(sorted(only)) if only else "every Monitor in the store")
        try:
            yield
        finally:
            await controller.stop()
            plane.engine.dispose()

    app = Starlette(
        routes=[Route("/health", health, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])],
        lifespan=lifespan,
    )
    app.state.controller = controller
    return app


def run(settings: Settings, files: list[Path]) -> None:
    """Run until SIGTERM; /health and /metrics on settings.host:settings.port."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    with contextlib.ExitStack() as held:
        if not files:
            url = f"http://{settings.host}:{settings.port}"
            lock = held.enter_context(store_lock.acquire(settings.store, holder="cnai controller monitor", url=url))
            lock.keep(on_lost=store_lock.exit_on_lost)
        sock = listen.bind(settings.host, settings.port)  # a taken port fails before minutes of migrations
        held.callback(sock.close)
        only = frozenset(apply_monitor_files(files, settings)) if files else None  # migrates the store
        if only is None:
            engine = make_engine(settings.store)
            upgrade(engine)
            engine.dispose()
        app = build_app(settings, only)
        # Only /health and /metrics are served (no data, no writes): no token is asked for.
        common = dict(
            host=settings.host, port=settings.port, loop="uvloop", log_level=settings.log_level, access_log=False
        )
        listen.run(app, sock, common)
