"""The canary judge: is the canary's live traffic within the spec's thresholds? Pure, no I/O.

No verdict before ``minRequests`` canary requests: an error rate over five requests is noise, and
an early rollback on noise would make canaries useless. After that, either threshold breached
(5xx and transport failures over requests; the 99th percentile of successful requests' latency)
is a rollback, with a reason a human can read in ``cnai describe``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_requests: int
    max_error_rate: float | None = None
    max_p99_latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    judged: bool
    healthy: bool
    reason: str | None
    requests: int
    error_rate: float
    p99_ms: float | None


def judge(requests: int, errors: int, p99_ms: float | None, thresholds: Thresholds) -> Verdict:
    rate = errors / requests if requests else 0.0
    if requests < thresholds.min_requests:
        return Verdict(False, True, None, requests, rate, p99_ms)
    if thresholds.max_error_rate is not None and rate > thresholds.max_error_rate:
        reason = (
            f"canary error rate {rate:.1%} over {requests} requests exceeds maxErrorRate "
            f"{thresholds.max_error_rate:.1%}"
        )
        return Verdict(True, False, reason, requests, rate, p99_ms)
    if thresholds.max_p99_latency_ms is not None and p99_ms is not None and p99_ms > thresholds.max_p99_latency_ms:
        reason = (
            f"canary p99 latency {p99_ms:.1f} ms over {requests} requests exceeds maxP99LatencyMs "
            f"{thresholds.max_p99_latency_ms:g}"
        )
        return Verdict(True, False, reason, requests, rate, p99_ms)
    return Verdict(True, True, None, requests, rate, p99_ms)
