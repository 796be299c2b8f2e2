"""What the control plane runs beside its API: controllers that converge reality to desired state."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Controller(Protocol):
    """A reconcile loop started and stopped with the control plane (``cnai up``).

    ``start`` returns quickly after spawning the controller's own asyncio task(s); ``stop`` ends
    them cleanly and may be called more than once. Desired state lives only in the database, so a
    controller that is stopped, crashes or restarts converges again from what it reads there.
    """

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
