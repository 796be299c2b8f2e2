"""Run the control plane under uvicorn (uvloop + httptools: the fast event loop and parser)."""

from __future__ import annotations

import logging
import os

import uvicorn

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.http_transport import TransportLimits, http_protocol
from cnai.settings import Settings


def app_from_env() -> object:
    """Factory used by uvicorn's worker processes (``--workers > 1``): settings come from CNAI_*."""
    from cnai.server.app import create_app

    return create_app(Settings(), migrate=False)


def serve(settings: Settings, *, with_controllers: bool = False) -> None:
    """Run until Ctrl-C or SIGTERM; uvicorn's shutdown runs the app's lifespan exit, which stops
    the controllers (and with them the replicas they started) before the process ends."""
    settings.check_bind_is_safe()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The controllers poll the registry every few seconds: one INFO line per poll would bury the log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    # Migrate once, before any worker starts, so workers never race on DDL.
    engine = make_engine(settings.store)
    upgrade(engine)
    engine.dispose()
    common = dict(
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=http_protocol(
            TransportLimits(settings.header_timeout_seconds, settings.body_timeout_seconds, settings.max_header_bytes)
        ),
        log_level=settings.log_level,
        access_log=False,
        timeout_keep_alive=60,
    )
    if settings.workers == 1 or with_controllers:
        from cnai.server.app import create_app

        app = create_app(settings, migrate=False, with_controllers=with_controllers)
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    # Worker processes rebuild the settings from the environment: export the resolved values.
    for name, value in settings.model_dump().items():
        os.environ[f"CNAI_{name.upper()}"] = str(value)
    uvicorn.run("cnai.server.run:app_from_env", factory=True, workers=settings.workers, **common)  # type: ignore[arg-type]
