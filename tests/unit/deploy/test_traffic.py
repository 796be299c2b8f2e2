"""TrafficHistory: rates and percentiles of what happened between two samples, on a fake clock."""

from __future__ import annotations

import pytest

from cnai.deploy.stats import TargetStats
from cnai.deploy.traffic import TrafficHistory


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _answer(stats: TargetStats, seconds: float, failed: bool = False) -> None:
    stats.begin()
    stats.end(seconds, failed)


def test_a_sample_holds_rates_and_percentiles_of_its_interval() -> None:
    clock = Clock()
    stats = {"primary": TargetStats(clock), "canary": TargetStats(clock)}
    history = TrafficHistory(every_s=10, clock=clock)
    for i in range(100):
        _answer(stats["primary"], 0.001 * (i + 1))  # 1..100 ms
    for _ in range(5):
        _answer(stats["canary"], 0.5, failed=True)
    _answer(stats["canary"], 0.02)
    clock.now += 5
    assert not history.sample(stats)  # the interval has not passed yet
    clock.now += 5
    assert history.sample(stats)
    primary, canary = history.export()
    assert primary == {"t": 1_010_000, "target": "primary", "rps": 10.0, "errorRate": 0.0,
                       "p50Ms": 50.0, "p95Ms": 95.0, "p99Ms": 99.0}  # fmt: skip
    assert canary["rps"] == pytest.approx(0.6)
    assert canary["errorRate"] == pytest.approx(5 / 6, abs=1e-4)
    assert canary["p99Ms"] == 20.0
    # The next interval counts only its own requests; older latencies are not reused.
    _answer(stats["primary"], 0.2)
    clock.now += 10
    assert history.sample(stats)
    latest = history.export()[-2]
    assert latest["rps"] == pytest.approx(0.1)
    assert latest["p50Ms"] == 200.0


def test_idle_is_recorded_once_and_a_reset_counts_from_zero() -> None:
    clock = Clock()
    stats = {"primary": TargetStats(clock)}
    history = TrafficHistory(every_s=10, clock=clock)
    _answer(stats["primary"], 0.01)
    clock.now += 10
    assert history.sample(stats)
    for _ in range(3):  # idle: one sample says so, then the status stays unchanged
        clock.now += 10
        history.sample(stats)
    assert [s["rps"] for s in history.export()] == [0.1, 0.0]
    stats["primary"].reset_outcomes()
    _answer(stats["primary"], 0.01)
    clock.now += 10
    assert history.sample(stats)
    assert history.export()[-1]["rps"] == pytest.approx(0.1)


def test_only_the_newest_entries_are_kept() -> None:
    clock = Clock()
    stats = {"primary": TargetStats(clock)}
    history = TrafficHistory(every_s=1, keep=3, clock=clock)
    for _ in range(6):
        _answer(stats["primary"], 0.01)
        clock.now += 1
        history.sample(stats)
    assert len(history.export()) == 3
    assert history.export()[-1]["t"] == 1_006_000
