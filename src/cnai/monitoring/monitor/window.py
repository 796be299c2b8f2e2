"""Tumbling windows over a monitor's rows, as a pure function of the rows and the time.

Count windows close every ``count`` rows, splitting a request's rows across windows if need be.
Time windows start at their first row's event time and close once ``seconds`` have passed,
proven either by a later row's event time or by the wall clock (so a quiet stream still closes
its window); a window short of ``minRows`` stays open until it has them.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnai.monitoring.monitor.rows import Row
from cnai.monitoring.monitor.spec import Window


def close_windows(window: Window, rows: Sequence[Row], now_ms: int) -> tuple[list[list[Row]], list[Row]]:
    """``(closed windows, rows still open)`` for ``rows`` in arrival order."""
    if window.count is not None:
        return _by_count(window.count, rows)
    assert window.seconds is not None
    return _by_time(round(window.seconds * 1000), window.minimum_rows, rows, now_ms)


def _by_count(count: int, rows: Sequence[Row]) -> tuple[list[list[Row]], list[Row]]:
    full = len(rows) // count * count
    return [list(rows[i : i + count]) for i in range(0, full, count)], list(rows[full:])


def _by_time(span_ms: int, min_rows: int, rows: Sequence[Row], now_ms: int) -> tuple[list[list[Row]], list[Row]]:
    closed: list[list[Row]] = []
    start = 0
    while start < len(rows):
        boundary = rows[start].ts_ms + span_ms
        cut = next((i for i in range(start, len(rows)) if rows[i].ts_ms >= boundary), len(rows))
        if cut == len(rows) and now_ms < boundary:
            break  # the window's time has not run out yet
        cut = max(cut, start + min_rows)
        if cut > len(rows):
            break  # time is up but the window is short of minRows: keep collecting
        closed.append(list(rows[start:cut]))
        start = cut
    return closed, list(rows[start:])
