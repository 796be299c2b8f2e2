"""Loading the user's objective: ``module:function`` or ``path/to/file.py:function``.

The objective is ``def objective(params: dict, report) -> float`` (or ``-> (float, model)`` when the
study registers its best model). Each worker imports it once and reuses it for every trial.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnai.errors import InvalidArgument

Objective = Callable[[dict[str, Any], Callable[[int, float], None]], Any]


class ObjectiveImportError(InvalidArgument):
    """The objective named on the command line cannot be imported or is not a function."""


def split_spec(spec: str) -> tuple[str, str]:
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise ObjectiveImportError(f"Objective {spec!r} must look like module:function or file.py:function.")
    return target, name


def load_objective(spec: str) -> Objective:
    target, name = split_spec(spec)
    try:
        module = _import_file(target) if target.endswith(".py") else importlib.import_module(target)
    except ObjectiveImportError:
        raise
    except BaseException as exc:  # the user's module may raise anything at import time, SystemExit included
        raise ObjectiveImportError(
            f"Cannot import the objective's module {target!r}: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ObjectiveImportError(f"{target!r} has no function {name!r}.")
    return fn  # type: ignore[no-any-return]


def _import_file(path: str) -> Any:
    file = Path(path).resolve()
    if not file.is_file():
        raise ObjectiveImportError(f"No objective file {path!r}: give a path to a .py file, or module:function.")
    # The file's folder goes on sys.path so the objective can import its neighbours, as `python file.py` would.
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = f"cnai_objective_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ObjectiveImportError(f"Cannot load {path!r} as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"
