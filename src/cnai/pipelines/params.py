"""Pipeline parameters: ``--param k=v`` strings coerced to the pipeline signature's types."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from cnai.errors import InvalidArgument
from cnai.pipelines.dsl import Graph
from cnai.pipelines.types import Artifact, is_artifact_type


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidArgument(f"--param {pair!r} is not key=value")
        out[key.strip()] = value
    return out


def _coerce(name: str, annotation: Any, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if annotation is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("not a boolean")
        if annotation in (int, float):
            return annotation(raw)
        if annotation in (list, dict) or getattr(annotation, "__origin__", None) in (list, dict):
            return json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(
            f"Parameter {name!r}={raw!r} is not a valid {getattr(annotation, '__name__', annotation)}: {exc}"
        ) from None
    return raw


def resolve(graph: Graph, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Path]]:
    """Parameter values by name, and the local files named by ``File``-typed parameters."""
    unknown = sorted(set(given) - set(graph.params))
    if unknown:
        known = ", ".join(graph.params) or "none"
        raise InvalidArgument(f"Pipeline {graph.name!r} has no parameter {unknown[0]!r}; its parameters: {known}")
    values: dict[str, Any] = {}
    files: dict[str, Path] = {}
    for name, (annotation, default) in graph.params.items():
        if name in given:
            value = _coerce(name, annotation, given[name])
        elif default is not inspect.Parameter.empty:
            value = default
        else:
            raise InvalidArgument(f"Pipeline {graph.name!r} needs parameter {name!r}: pass --param {name}=...")
        if is_artifact_type(annotation):
            path = Path(value.path if isinstance(value, Artifact) else str(value)).expanduser()
            if not path.exists():
                raise InvalidArgument(f"Parameter {name!r} names a missing file {str(path)!r}: check the path")
            files[name] = path
            value = str(path)
        values[name] = value
    return values, files
