"""Shared CLI helpers: settings from flags, errors printed for humans, JSON output."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from cnai.errors import CnaiError
from cnai.settings import Settings

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def build_settings(**flags: Any) -> Settings:
    """Flags override CNAI_* environment variables; unset flags (None) fall through."""
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"Invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        raise  # unreachable
    except CnaiError as exc:  # e.g. a CNAI_*_FILE that cannot be read
        fail(exc.message)
        raise  # unreachable


def fail(message: str, code: int = 1) -> None:
    """Print ``Error: message`` and exit with ``code``.

    The message is printed as written: escaped, so a ``[...]`` in it is not read as rich markup,
    and not wrapped, so one line stays one line for a reader, ``grep`` and the deployment
    controller (which reports a replica's last log line as its failure)."""
    err_console.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def guarded(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn cnai's errors into one readable line and a non-zero exit."""
    try:
        return fn()
    except CnaiError as exc:
        fail(exc.message)
        raise  # unreachable


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
