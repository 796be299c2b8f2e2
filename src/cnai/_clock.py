"""Time in one place, so tests can reason about it."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the epoch, the unit of every timestamp in MLflow's API."""
    return time.time_ns() // 1_000_000
