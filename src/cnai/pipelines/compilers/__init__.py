"""Compilers: a traced pipeline to a cluster engine's document. Targets register in
:data:`TARGETS` (``name -> "module:function"``) and are imported on use."""

from __future__ import annotations

import base64
import importlib
from typing import TYPE_CHECKING, Any

from cnai import __version__
from cnai.errors import InvalidArgument

if TYPE_CHECKING:
    from cnai.pipelines.service import Loaded

TARGETS = {
    "kfp": "cnai.pipelines.compilers.kfp:compile_kfp",
    "argo": "cnai.pipelines.compilers.argo:compile_argo",
}
DEFAULT_IMAGE = f"ghcr.io/cnai-project/cnai:{__version__}"


def compile_pipeline(loaded: Loaded, target: str, *, image: str | None = None) -> str:
    if target not in TARGETS:
        raise InvalidArgument(f"Unknown compile target {target!r}: use one of {', '.join(TARGETS)}")
    module, fn = TARGETS[target].split(":")
    text: str = getattr(importlib.import_module(module), fn)(loaded, image or DEFAULT_IMAGE)
    return text


def entry_args(loaded: Loaded, node: Any) -> list[str]:
    """The arguments every compiled step passes to ``python -m cnai.pipelines.entry``."""
    return [
        "--source-b64",
        base64.b64encode(loaded.source.encode()).decode(),
        "--filename",
        "pipeline.py",
        "--module",
        loaded.module,
        "--qualname",
        node.step.fn.__qualname__,
    ]
