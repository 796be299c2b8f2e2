"""Load a pipeline file as a module, the same way in the CLI, in warm workers and in Ray tasks.

The module gets a name derived from the file's stem, so a step's ``fn.__module__`` names the same
module everywhere; workers receive the file's text rather than its path, so a remote worker (a Ray
node, a container) needs no copy of the user's checkout.
"""

from __future__ import annotations

import linecache
import re
import sys
import types
from pathlib import Path
from typing import Any

from cnai.errors import InvalidArgument
from cnai.pipelines.dsl import Pipeline

MODULE_PREFIX = "cnai_pipeline_"


def module_name(filename: str) -> str:
    return MODULE_PREFIX + re.sub(r"\W", "_", Path(filename).stem)


def read_file(path: str | Path) -> str:
    file = Path(path)
    if not file.is_file():
        raise InvalidArgument(f"Pipeline file {str(file)!r} does not exist: check the path")
    try:
        return file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"Cannot read pipeline file {str(file)!r}: {exc}") from None


def load_source(name: str, source: str, filename: str) -> types.ModuleType:
    """Execute ``source`` as module ``name`` (reusing it when the same text was loaded before)."""
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__cnai_source__", None) == source:
        return existing
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__dict__["__cnai_source__"] = source
    # inspect.getsource (the cache key's code hash) reads through linecache.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    parent = str(Path(filename).resolve().parent)
    if parent not in sys.path:  # sibling modules import as they would for `python file.py`
        sys.path.insert(0, parent)
    sys.modules[name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except SyntaxError as exc:
        del sys.modules[name]
        raise InvalidArgument(f"Pipeline file {filename!r} line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:
        del sys.modules[name]
        raise InvalidArgument(f"Pipeline file {filename!r} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def load_file(path: str | Path) -> tuple[types.ModuleType, str]:
    filename = str(Path(path).resolve())
    source = read_file(path)
    return load_source(module_name(filename), source, filename), source


def find_pipeline(module: types.ModuleType, name: str | None) -> Pipeline:
    found = {p.name: p for p in vars(module).values() if isinstance(p, Pipeline)}
    if name is not None:
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise InvalidArgument(f"No pipeline {name!r} in {module.__file__}; it defines: {known}")
        return found[name]
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise InvalidArgument(f"{module.__file__} defines no @pipeline function")
    raise InvalidArgument(
        f"{module.__file__} defines several pipelines ({', '.join(sorted(found))}): pick one with --pipeline"
    )


def resolve(module: types.ModuleType, qualname: str) -> Any:
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
