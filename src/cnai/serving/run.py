"""Run the model server with uvicorn: one process, or ``--workers N`` processes on one port.

With N workers uvicorn binds the socket once and its worker processes accept from it, each
building its own app (and loading its models once) from the ``CNAI_SERVE_*`` environment the
parent sets from its settings.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable

import uvicorn

from cnai import listen
from cnai.http_transport import TransportLimits, http_protocol
from cnai.serving.app import ServingApp, create_app
from cnai.serving.guard import ServeGuard
from cnai.serving.resolve import check_model, parse_model_arg
from cnai.serving.settings import ServeSettings


def _uvicorn_options(settings: ServeSettings) -> dict[str, object]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,  # cnai's own JSON access log replaces uvicorn's (see --access-log)
        "lifespan": "on",
        "loop": "uvloop",
        # httptools with head/body deadlines and a head size limit (slow or hostile clients).
        "http": http_protocol(
            TransportLimits(settings.header_timeout_seconds, settings.body_timeout_seconds, settings.max_header_bytes)
        ),
        "timeout_keep_alive": 30,
        "backlog": 4096,
        # No X-Forwarded-* rewriting: nothing here reads the client address, and the middleware
        # would parse the headers of every request for it.
        "proxy_headers": False,
    }


def configure_logging(settings: ServeSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("cnai.serving.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    logging.getLogger("cnai.serving").setLevel(settings.log_level.upper())
    if not logging.getLogger().handlers:
        logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")


def app_from_env() -> ServeGuard:
    """Factory for worker processes: settings from the ``CNAI_SERVE_*`` environment."""
    settings = ServeSettings()
    configure_logging(settings)
    return create_app(settings)


def serve(settings: ServeSettings, *, on_ready: Callable[[ServeSettings], None] | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM.

    The start is ordered so that a mistake is one line (a ``CnaiError``) before anything claims
    to be up: the port first (before any download), then the models, then ``on_ready`` (the
    banner, with port 0 replaced by the real port) once connections are accepted. With one
    process the app is started here rather than in uvicorn's lifespan, which would log a
    traceback and exit with its own lines; with several, each worker loads its models, so they
    are fetched and checked here first.
    """
    configure_logging(settings)
    sock = listen.bind(settings.host, settings.port)
    if listen.bound_port(sock) != settings.port:
        settings = settings.model_copy(update={"port": listen.bound_port(sock)})
    ready = (lambda: on_ready(settings)) if on_ready is not None else None
    if settings.workers == 1:
        app = ServingApp(settings)
        options = {**_uvicorn_options(settings), "lifespan": "off"}  # startup/shutdown: before/after
        gated = ServeGuard(app, settings)  # what create_app builds, with the inner app's hooks at hand
        listen.run(gated, sock, options, before=app.startup, after=app.shutdown, on_ready=ready)
        return
    try:
        if not settings.lazy:
            for spec in [parse_model_arg(m) for m in settings.models]:
                check_model(spec, settings.tracking_uri, settings.home / "serving-cache")
    finally:
        sock.close()  # uvicorn binds it again for its workers, right away
    os.environ.update(settings.to_env())
    if ready is not None:
        ready()
    # Workers share their metrics through files in this directory (see metrics.py); it must be
    # empty at start, or counts of an earlier server would be added in.
    with tempfile.TemporaryDirectory(prefix="cnai-serve-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run(
            "cnai.serving.run:app_from_env",
            factory=True,
            workers=settings.workers,
            **_uvicorn_options(settings),  # type: ignore[arg-type]
        )
