"""The router's pure parts: the traffic split, replica choice, the canary judge, spec rewrites."""

from __future__ import annotations

import pytest

from cnai.deploy.api import promoted, rolled_back
from cnai.deploy.canary import Thresholds, judge
from cnai.deploy.router import CANARY, PRIMARY, Backend, Router, TrafficSplit
from cnai.deploy.stats import TargetStats
from cnai.errors import InvalidState


@pytest.mark.parametrize("percent", [0, 1, 12.5, 20, 50, 99, 100])
def test_split_gives_the_canary_exactly_its_share(percent: float) -> None:
    split = TrafficSplit(percent)
    hits = sum(split.next_is_canary() for _ in range(2000))
    assert hits == int(2000 * percent / 100)


def test_split_interleaves_rather_than_bunching() -> None:
    split = TrafficSplit(25)
    assert [split.next_is_canary() for _ in range(8)] == [False, False, False, True] * 2


async def test_least_outstanding_replica_is_chosen_and_suspects_are_avoided() -> None:
    router = Router("t")
    a, b, c = Backend("a", "127.0.0.1", 1), Backend("b", "127.0.0.1", 2), Backend("c", "127.0.0.1", 3)
    a.outstanding, b.outstanding, c.outstanding = 3, 1, 2
    router.set_backends([a, b, c], [], 0)
    assert router._choose(PRIMARY, set()) == (PRIMARY, b)
    b.suspect_until = float("inf")
    assert router._choose(PRIMARY, set()) == (PRIMARY, c)
    assert router._choose(PRIMARY, {c}) == (PRIMARY, a)
    assert router._choose(PRIMARY, {a, c}) == (PRIMARY, b)  # a suspect beats nothing
    assert router._choose(PRIMARY, {a, b, c}) is None


async def test_an_empty_target_falls_back_to_the_other() -> None:
    router = Router("t")
    primary = Backend("p", "127.0.0.1", 1)
    router.set_backends([primary], [], 50)
    assert router._choose(CANARY, set()) == (PRIMARY, primary)


def test_stats_integrate_concurrency_over_time() -> None:
    now = [0.0]
    stats = TargetStats(clock=lambda: now[0])
    stats.begin()
    now[0] = 1.0
    stats.begin()
    now[0] = 2.0
    stats.end(1.0, failed=False)
    stats.end(2.0, failed=True)
    now[0] = 4.0
    assert stats.average_concurrency() == pytest.approx((1 * 1 + 2 * 1) / 4)
    assert (stats.requests, stats.errors) == (2, 1)
    assert stats.p99_ms() == pytest.approx(1000.0)


def test_canary_is_not_judged_before_min_requests() -> None:
    verdict = judge(10, 10, 5000.0, Thresholds(min_requests=50, max_error_rate=0.01, max_p99_latency_ms=1))
    assert not verdict.judged
    assert verdict.healthy


def test_canary_breaching_error_rate_or_latency_is_unhealthy() -> None:
    errors = judge(100, 6, 10.0, Thresholds(min_requests=50, max_error_rate=0.05))
    assert not errors.healthy
    assert "error rate 6.0%" in (errors.reason or "")
    slow = judge(100, 0, 250.0, Thresholds(min_requests=50, max_error_rate=0.05, max_p99_latency_ms=200))
    assert not slow.healthy
    assert "p99 latency 250.0 ms" in (slow.reason or "")
    fine = judge(100, 5, 150.0, Thresholds(min_requests=50, max_error_rate=0.05, max_p99_latency_ms=200))
    assert fine.healthy


def test_promote_and_rollback_rewrite_the_spec() -> None:
    spec = {"model": "models:/w/1", "canary": {"model": "models:/w/2", "percent": 20}, "port": 9000}
    assert promoted(spec, "w") == {"model": "models:/w/2", "canary": None, "port": 9000}
    assert rolled_back(spec, "w") == {"model": "models:/w/1", "canary": None, "port": 9000}
    with pytest.raises(InvalidState, match="no canary to promote"):
        promoted({"model": "m", "canary": None}, "w")
    with pytest.raises(InvalidState, match="no canary to roll back"):
        rolled_back({"model": "m"}, "w")
