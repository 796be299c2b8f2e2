"""Executors by name. Built-ins load lazily (Ray is an optional extra); others plug in through the
``cnai.tune.executors`` entry-point group, as ``name = "package.module:Class"``."""

from __future__ import annotations

import importlib
from typing import Any

from cnai.errors import InvalidArgument
from cnai.tune.executors.base import Executor

BUILTIN = {
    "local": "cnai.tune.executors.local:LocalExecutor",
    "ray": "cnai.tune.executors.ray:RayExecutor",
}


def available() -> dict[str, str]:
    from importlib.metadata import entry_points  # here: workers import this package too, and need none

    found = {ep.name: ep.value for ep in entry_points(group="cnai.tune.executors")}
    return {**found, **BUILTIN}


def make_executor(name: str, **options: Any) -> Executor:
    known = available()
    if name not in known:
        raise InvalidArgument(f"Unknown executor {name!r}; use one of: {', '.join(sorted(known))}.")
    module_name, _, attr = known[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    executor: Executor = cls(**options)
    return executor
