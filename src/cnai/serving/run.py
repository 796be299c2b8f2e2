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

import uvicorn

from cnai.http_transport import TransportLimits, http_protocol
from cnai.serving.app import ServingApp, create_app
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


def app_from_env() -> ServingApp:
    """Factory for worker processes: settings from the ``CNAI_SERVE_*`` environment."""
    settings = ServeSettings()
    configure_logging(settings)
    return create_app(settings)


def serve(settings: ServeSettings) -> None:
    configure_logging(settings)
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **_uvicorn_options(settings))  # type: ignore[arg-type]
        return
    os.environ.update(settings.to_env())
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
