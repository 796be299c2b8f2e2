"""Composes the control-plane ASGI app from the pieces and runs it."""
