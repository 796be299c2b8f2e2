"""The kinds of declarative resources this control plane knows, with their controllers and
extra ``/api/v1`` routes: the one place where the service packages meet the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from cnai.resources import Controller, SpecValidator

if TYPE_CHECKING:
    from cnai.server.app import ControlPlane


def validators() -> dict[str, SpecValidator]:
    return {}


def controllers(plane: ControlPlane) -> list[Controller]:
    return []


def routes(plane: ControlPlane) -> list[BaseRoute]:
    return []
