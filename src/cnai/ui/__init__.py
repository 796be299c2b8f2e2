"""The control plane's web UI: read-only, server-rendered HTML pages over the stores."""

from cnai.ui.routes import ui_routes

__all__ = ["ui_routes"]
