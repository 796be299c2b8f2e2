"""Run the control plane under uvicorn (uvloop + httptools: the fast event loop and parser)."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable

import uvicorn

from cnai import listen
from cnai.db import lock as store_lock
from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.http_transport import TransportLimits, http_protocol
from cnai.settings import Settings


def app_from_env() -> object:
    """Factory used by uvicorn's worker processes (``--workers > 1``): settings come from CNAI_*."""
    from cnai.server.app import create_app

    app = create_app(Settings(), migrate=False)
    settle_heap()
    return app


def settle_heap() -> None:
    """Move what startup built (modules, the app, SQLAlchemy's metadata: most of the heap) out of
    the garbage collector's sight. A full collection walks every tracked object, and a search
    answer, which allocates a dict per row, triggers them often: without this they took a fifth
    of a filtered search's server CPU (measured: 3.1-3.8 ms against 2.5-2.6 ms a search). The
    frozen objects are still freed by reference counting; only cycles among them would stay."""
    gc.collect()
    gc.freeze()


def serve(
    settings: Settings, *, with_controllers: bool = False, on_ready: Callable[[Settings], None] | None = None
) -> None:
    """Run until Ctrl-C or SIGTERM; uvicorn's shutdown runs the app's lifespan exit, which stops
    the controllers (and with them the replicas they started) before the process ends.

    The start is ordered so that each mistake is reported before anything it would spoil: the
    store lock first (``with_controllers``: a second `cnai up` on the store must not start
    controllers, see cnai.db.lock), then the port (before minutes of migrations), then the store
    (one line for a database that is missing or unreachable). ``on_ready`` (the banner) is called
    with the resolved settings (port 0 replaced by the real port) once connections are accepted.
    """
    settings.check_bind_is_safe()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The controllers poll the registry every few seconds: one INFO line per poll would bury the log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    with contextlib.ExitStack() as held:
        if with_controllers:
            url = f"http://{settings.host}:{settings.port}"
            lock = held.enter_context(store_lock.acquire(settings.store, holder="cnai up", url=url))
            lock.keep(on_lost=store_lock.exit_on_lost)
        sock = listen.bind(settings.host, settings.port)
        held.callback(sock.close)
        if listen.bound_port(sock) != settings.port:  # port 0: the controllers need the real one
            settings = settings.model_copy(update={"port": listen.bound_port(sock)})
            if with_controllers:
                lock.announce(f"http://{settings.host}:{settings.port}")
        # Migrate once, before any worker starts, so workers never race on DDL.
        engine = make_engine(settings.store)
        upgrade(engine)
        engine.dispose()
        common = dict(
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            # httptools with head/body deadlines and a head size limit (slow or hostile clients).
            http=http_protocol(
                TransportLimits(
                    settings.header_timeout_seconds, settings.body_timeout_seconds, settings.max_header_bytes
                )
            ),
            log_level=settings.log_level,
            access_log=False,
            timeout_keep_alive=60,
        )
        ready = (lambda: on_ready(settings)) if on_ready is not None else None
        if settings.workers == 1 or with_controllers:
            from cnai.server.app import create_app

            app = create_app(settings, migrate=False, with_controllers=with_controllers)
            settle_heap()
            listen.run(app, sock, common, on_ready=ready)
            return
        # Worker processes rebuild the settings from the environment: export the resolved values.
        for name, value in settings.model_dump().items():
            os.environ[f"CNAI_{name.upper()}"] = str(value)
        sock.close()  # uvicorn binds it again for its workers, right away
        if ready is not None:
            ready()
        uvicorn.run("cnai.server.run:app_from_env", factory=True, workers=settings.workers, **common)  # type: ignore[arg-type]
