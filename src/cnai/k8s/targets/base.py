"""The render-target plugin point: a name, the autoscalers it supports, and one render call."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from cnai.errors import InvalidArgument
from cnai.k8s.model import Manifest, ServedModel


class Target(Protocol):
    name: ClassVar[str]
    autoscalers: ClassVar[tuple[str, ...]]  # the first is the default
    description: ClassVar[str]

    def render(self, served: ServedModel, autoscaler: str) -> list[Manifest]: ...


_TARGETS: dict[str, Callable[[], Target]] = {}


def register(name: str) -> Callable[[Callable[[], Target]], Callable[[], Target]]:
    def add(factory: Callable[[], Target]) -> Callable[[], Target]:
        _TARGETS[name] = factory
        return factory

    return add


def _load_builtins() -> None:
    # Imported for their @register side effect; kept lazy so importing the base is cheap.
    from cnai.k8s.targets import knative, kserve, kubernetes  # noqa: F401


def target_names() -> list[str]:
    _load_builtins()
    return sorted(_TARGETS)


def get_target(name: str) -> Target:
    _load_builtins()
    if name not in _TARGETS:
        raise InvalidArgument(f"Unknown target {name!r}: use one of {', '.join(sorted(_TARGETS))}")
    return _TARGETS[name]()


def pick_autoscaler(target: Target, requested: str | None) -> str:
    if requested is None:
        return target.autoscalers[0]
    if requested not in target.autoscalers:
        raise InvalidArgument(
            f"--autoscaler {requested} does not apply to --target {target.name}: use {', '.join(target.autoscalers)}"
            + (" (or --target kubernetes --autoscaler keda)" if requested == "keda" else "")
        )
    return requested
