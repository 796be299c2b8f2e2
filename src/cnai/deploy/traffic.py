"""A short history of a deployment's traffic per target, for the web UI's charts.

The router keeps running counters (:class:`~cnai.deploy.stats.TargetStats`); every ``every_s``
seconds this takes the difference since the previous sample: request rate, error rate and
latency percentiles of the requests answered in between. The last ``keep`` entries travel in
the deployment's status (``status.traffic``), so a page can chart the last minutes without a
metrics backend; Prometheus (``/metrics``) stays the place for long histories.

Idle stretches are recorded once (the first idle sample) rather than every interval, so an idle
deployment's status does not change, and is not rewritten, every ``every_s`` seconds.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from cnai.deploy.stats import TargetStats

EVERY_S = 10.0
KEEP = 120  # entries, one per target and sample: ten minutes of primary and canary at the default interval


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class TrafficHistory:
    def __init__(self, every_s: float = EVERY_S, keep: int = KEEP, clock: Callable[[], float] = time.time) -> None:
        self._every = every_s
        self._clock = clock
        self._samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self._last_at = clock()
        self._seen: dict[str, tuple[int, int, int]] = {}  # target -> (resets, requests, errors) at the last sample
        self._idle = False

    def sample(self, stats: Mapping[str, TargetStats]) -> bool:
        """Take a sample when the interval has passed; True when the history changed."""
        now = self._clock()
        elapsed = now - self._last_at
        if elapsed < self._every:
            return False
        self._last_at = now
        taken = []
        for target, s in stats.items():
            resets, requests, errors = self._seen.get(target, (s.resets, 0, 0))
            if s.resets != resets:  # counters were reset (a new canary): count from zero
                requests = errors = 0
            new, failed = s.requests - requests, s.errors - errors
            self._seen[target] = (s.resets, s.requests, s.errors)
            answered = new - failed
            recent = sorted(list(s.latencies_s)[-answered:]) if answered > 0 else []
            taken.append(
                {
                    "t": int(now * 1000),
                    "target": target,
                    "rps": round(new / elapsed, 3),
                    "errorRate": round(failed / new, 4) if new else 0.0,
                    **{
                        f"p{q}Ms": round(_percentile(recent, q / 100) * 1000, 3) if recent else None
                        for q in (50, 95, 99)
                    },
                }
            )
        idle = all(t["rps"] == 0 for t in taken)
        if idle and self._idle:
            return False
        self._idle = idle
        self._samples.extend(taken)
        return True

    def export(self) -> list[dict[str, Any]]:
        return list(self._samples)
