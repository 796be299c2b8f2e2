"""Per-target traffic statistics kept by the router, read by the autoscaler and the canary judge.

A *target* is one side of a deployment's traffic (``primary`` or ``canary``). The router updates
these on every request, so they are plain counters: no locks (one event loop), no allocation on
the hot path beyond one deque append.

Concurrency is measured as Knative's queue-proxy does: the time integral of in-flight requests,
divided by the elapsed time when read. An instantaneous sample taken once a second would miss a
burst that came and went between two samples; the integral cannot.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

LATENCY_SAMPLES = 4096


class TargetStats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.in_flight = 0
        self.requests = 0
        self.errors = 0
        self.resets = 0  # times reset_outcomes ran: readers of the counters tell a reset from a quiet spell
        self.latencies_s: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._area = 0.0  # ∫ in_flight dt since the last read
        self._mark = clock()
        self._read_at = self._mark

    def _advance(self) -> None:
        now = self._clock()
        self._area += self.in_flight * (now - self._mark)
        self._mark = now

    def begin(self) -> None:
        self._advance()
        self.in_flight += 1

    def end(self, seconds: float, failed: bool) -> None:
        self._advance()
        self.in_flight -= 1
        self.requests += 1
        if failed:
            self.errors += 1
        else:
            self.latencies_s.append(seconds)

    def cancel(self) -> None:
        """An attempt that never reached a replica (retried elsewhere): in flight no more, not an outcome."""
        self._advance()
        self.in_flight -= 1

    def average_concurrency(self) -> float:
        """Mean in-flight requests since the previous call (the autoscaler's sample)."""
        self._advance()
        elapsed = self._mark - self._read_at
        value = self._area / elapsed if elapsed > 0 else float(self.in_flight)
        self._area, self._read_at = 0.0, self._mark
        return value

    def p99_ms(self) -> float | None:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] * 1000.0

    def reset_outcomes(self) -> None:
        """Forget counts and latencies (a new canary is judged on its own traffic only)."""
        self.requests = self.errors = 0
        self.latencies_s.clear()
        self.resets += 1
