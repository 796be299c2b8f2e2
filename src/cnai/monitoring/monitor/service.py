"""A window's service statistics: requests, errors, latency, time to first token and token use.

Pure: computed from the ``service`` part of the window's rows (one per request, see
:mod:`.rows`), with the names ``tests.service.thresholds`` uses (:data:`~.spec.SERVICE_METRICS`).
Percentiles are nearest-rank, as the deployment's traffic history computes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cnai.monitoring.monitor.rows import Row

# 429 is a refusal (the queue was full): the service failed that caller as surely as a 5xx did.
REJECTED = 429


def is_error(status: int) -> bool:
    return status >= 500 or status == REJECTED


def window_stats(rows: Sequence[Row]) -> dict[str, Any] | None:
    """The statistics of the requests in ``rows``; None when no row carries a request."""
    requests = [r.service for r in rows if r.service is not None]
    if not requests:
        return None
    errors = sum(1 for s in requests if is_error(int(s.get("status", 200))))
    ok = [s for s in requests if int(s.get("status", 200)) < 400]
    stats: dict[str, Any] = {
        "requests": len(requests),
        "errors": errors,
        "errorRate": round(errors / len(requests), 6),
    }
    _spread(stats, "latency", [s["latency_ms"] for s in ok if "latency_ms" in s], "Ms")
    _spread(stats, "ttft", [s["ttft_ms"] for s in ok if "ttft_ms" in s], "Ms")
    prompt = [s["prompt_tokens"] for s in requests if "prompt_tokens" in s]
    completion = [s["completion_tokens"] for s in requests if "completion_tokens" in s]
    if prompt:
        stats["promptTokens"] = sum(prompt)
        stats["promptTokensMean"] = round(sum(prompt) / len(prompt), 3)
        stats["promptTokensP95"] = _percentile(sorted(prompt), 0.95)
    if completion:
        stats["completionTokens"] = sum(completion)
        stats["completionTokensMean"] = round(sum(completion) / len(completion), 3)
        stats["completionTokensP95"] = _percentile(sorted(completion), 0.95)
    if prompt or completion:
        totals = [s.get("prompt_tokens", 0) + s.get("completion_tokens", 0) for s in requests if _has_tokens(s)]
        stats["totalTokens"] = sum(totals)
        stats["totalTokensMean"] = round(sum(totals) / len(totals), 3)
    reasons: dict[str, int] = {}
    for s in requests:
        if "finish_reason" in s:
            reasons[s["finish_reason"]] = reasons.get(s["finish_reason"], 0) + 1
    if reasons:
        stats["finishReasons"] = reasons
        # Answers cut by max_tokens: a rising share means prompts now ask for longer answers.
        stats["lengthShare"] = round(reasons.get("length", 0) / sum(reasons.values()), 6)
    return stats


def _has_tokens(s: dict[str, Any]) -> bool:
    return "prompt_tokens" in s or "completion_tokens" in s


def _spread(stats: dict[str, Any], name: str, values: list[float], unit: str) -> None:
    if not values:
        return
    ordered = sorted(values)
    stats[f"{name}Mean{unit}"] = round(sum(ordered) / len(ordered), 3)
    for q in (50, 95, 99):
        stats[f"{name}P{q}{unit}"] = round(_percentile(ordered, q / 100), 3)


def _percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
