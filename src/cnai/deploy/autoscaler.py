"""Concurrency autoscaling policy, after Knative's KPA (``pkg/autoscaler/scaling/autoscaler.go``).

Pure: no clock, no I/O. The controller feeds it samples of observed concurrency (in-flight
requests across a deployment's replicas, averaged by the router over each sample period) with the
time they were taken, and asks for a decision with the current replica count and ``now``. Tests
step time instead of sleeping.

The rules, each from the KPA:

- Two windows. The *stable* window (default 60 s) averages concurrency for ordinary decisions,
  so a short burst does not churn replicas; the *panic* window (default 6 s) reacts to bursts.
- ``desired = ceil(average concurrency / targetConcurrency)`` per window.
- Panic starts when the panic window's desired count is at least ``panicThreshold`` x the current
  count. While panicking the autoscaler only scales up (never down: a burst that fades for a
  second must not drop the replicas it just started), and panic ends once a whole stable window has
  passed without crossing the threshold again.
- A restarted autoscaler has lost its history; with more than one replica running it *starts in
  panic mode*, because an empty window would otherwise read as "no load" and scale down by mistake.
- Scale to zero only when ``min == 0`` and no request has been in flight for
  ``scaleToZeroAfterSeconds``; until then the floor is one replica. Held requests at the router
  (scale-from-zero) count as concurrency, so demand on zero replicas yields a desire of at least one.
- Scale-down is rate-limited to halving per decision (KPA's max-scale-down-rate 2).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MAX_SCALE_DOWN_RATE = 2.0


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    min_replicas: int
    max_replicas: int
    target_concurrency: float = 10.0
    stable_window_s: float = 60.0
    panic_window_s: float = 6.0
    panic_threshold: float = 2.0
    scale_to_zero_after_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(f"need 0 <= min <= max and max >= 1, got {self.min_replicas}..{self.max_replicas}")
        if self.target_concurrency <= 0 or self.panic_window_s <= 0 or self.stable_window_s < self.panic_window_s:
            raise ValueError("need targetConcurrency > 0 and 0 < panicWindow <= stableWindow")


@dataclass(frozen=True, slots=True)
class Decision:
    desired: int
    panic: bool
    stable_concurrency: float
    panic_concurrency: float
    reason: str


class Autoscaler:
    """One deployment target's policy state: its samples and whether it is panicking."""

    def __init__(self, policy: ScalingPolicy, now: float, current: int = 0) -> None:
        self.policy = policy
        self._samples: deque[tuple[float, float]] = deque()
        self._panic_since: float | None = now if current > 1 else None  # see "restarted autoscaler" above
        self._panic_floor = current if current > 1 else 0
        self._last_active = now  # a fresh start is not idleness: no scale to zero before the idle period

    def record(self, now: float, concurrency: float) -> None:
        """One sample: the average number of in-flight requests over the period ending at ``now``."""
        self._samples.append((now, max(0.0, concurrency)))
        if concurrency > 0:
            self._last_active = now
        horizon = now - self.policy.stable_window_s
        while self._samples and self._samples[0][0] <= horizon:
            self._samples.popleft()

    def note_demand(self, now: float) -> None:
        """A request waits for a replica (the router's activator): that is activity, whatever the windows say."""
        self._last_active = now

    def _average(self, now: float, window: float) -> float:
        values = [value for at, value in self._samples if at > now - window]
        return sum(values) / len(values) if values else 0.0

    def decide(self, now: float, current: int) -> Decision:
        p = self.policy
        stable = self._average(now, p.stable_window_s)
        burst = self._average(now, p.panic_window_s)
        want_stable = math.ceil(stable / p.target_concurrency)
        want_panic = math.ceil(burst / p.target_concurrency)
        # Scale-down at most halves the count per decision, so a dip in the samples cannot drop
        # every replica at once.
        floor = math.floor(current / MAX_SCALE_DOWN_RATE)
        want_stable, want_panic = max(want_stable, floor), max(want_panic, floor)

        over = want_panic / max(current, 1) >= p.panic_threshold and want_panic > current
        if over:
            self._panic_since = now
        elif self._panic_since is not None and now - self._panic_since >= p.stable_window_s:
            self._panic_since, self._panic_floor = None, 0

        if self._panic_since is not None:
            desired = max(want_panic, self._panic_floor, current)  # panicking: never scale down
            self._panic_floor = desired
            reason = "panic"
        else:
            desired, reason = want_stable, "stable"

        desired, reason = self._bounded(now, desired, reason)
        return Decision(desired, self._panic_since is not None, stable, burst, reason)

    def _bounded(self, now: float, desired: int, reason: str) -> tuple[int, str]:
        p = self.policy
        if p.min_replicas == 0 and p.scale_to_zero_after_s is not None:
            # Idleness overrides the windows: with a short idle period, the stable window may still
            # remember old traffic, but nothing has been in flight for the whole period.
            if now - self._last_active >= p.scale_to_zero_after_s:
                self._panic_since, self._panic_floor = None, 0
                return 0, "idle: scale to zero"
        if desired == 0:
            # Keep one replica warm until the idle period has passed (or forever when min >= 1).
            return max(1, p.min_replicas), reason if p.min_replicas else "idle, waiting to scale to zero"
        if desired < p.min_replicas:
            return p.min_replicas, "min replicas"
        if desired > p.max_replicas:
            return p.max_replicas, "max replicas"
        return desired, reason
