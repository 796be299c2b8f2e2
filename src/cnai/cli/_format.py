"""Formatting helpers for the CLI's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: int | None, end: int | None) -> str:
    if not start or not end:
        return "-"
    seconds = (end - start) / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def kv(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {i["key"]: i["value"] for i in items or []}


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
