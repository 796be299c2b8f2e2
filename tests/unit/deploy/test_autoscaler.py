"""The KPA-like policy, driven with an injected clock: no sleeps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnai.deploy.autoscaler import Autoscaler, ScalingPolicy


def policy(**overrides: object) -> ScalingPolicy:
    base: dict[str, object] = {
        "min_replicas": 1,
        "max_replicas": 10,
        "target_concurrency": 10.0,
        "stable_window_s": 60.0,
        "panic_window_s": 6.0,
        "panic_threshold": 2.0,
    }
    base.update(overrides)
    return ScalingPolicy(**base)  # type: ignore[arg-type]


def feed(scaler: Autoscaler, start: float, seconds: int, concurrency: float) -> float:
    """One sample per second for ``seconds``; returns the time of the last one."""
    now = start
    for _ in range(seconds):
        now += 1
        scaler.record(now, concurrency)
    return now


def test_steady_load_asks_for_concurrency_over_target() -> None:
    scaler = Autoscaler(policy(), now=0)
    now = feed(scaler, 0, 60, 35.0)
    decision = scaler.decide(now, current=4)
    assert decision.desired == 4
    assert not decision.panic
    assert decision.stable_concurrency == pytest.approx(35.0)


def test_a_burst_panics_and_scales_up_at_once() -> None:
    scaler = Autoscaler(policy(), now=0)
    now = feed(scaler, 0, 54, 10.0)  # one replica's worth for most of the stable window
    now = feed(scaler, now, 6, 50.0)  # then five replicas' worth for the panic window
    decision = scaler.decide(now, current=1)
    assert decision.panic
    assert decision.desired == 5  # the stable average alone would ask for ceil(14 / 10) = 2


def test_no_scale_down_while_panicking_and_panic_ends_after_a_stable_window() -> None:
    scaler = Autoscaler(policy(), now=0)
    now = feed(scaler, 0, 6, 50.0)
    assert scaler.decide(now, current=1).desired == 5
    # The burst is over: still panicking, so the count holds.
    for _ in range(30):
        now = feed(scaler, now, 1, 0.0)
        decision = scaler.decide(now, current=5)
        assert decision.panic
        assert decision.desired == 5
    # A whole stable window since the threshold was last crossed: back to stable, scale down.
    now = feed(scaler, now, 31, 0.0)
    decision = scaler.decide(now, current=5)
    assert not decision.panic
    assert decision.desired < 5


def test_scale_down_at_most_halves_per_decision() -> None:
    scaler = Autoscaler(policy(min_replicas=1), now=0)
    now = feed(scaler, 0, 60, 0.0)
    assert scaler.decide(now, current=8).desired == 4


def test_a_restarted_autoscaler_starts_in_panic_with_several_replicas() -> None:
    scaler = Autoscaler(policy(), now=100, current=4)
    decision = scaler.decide(101, current=4)  # no history at all: must not read as "no load"
    assert decision.panic
    assert decision.desired == 4


def test_bounds_are_respected() -> None:
    scaler = Autoscaler(policy(min_replicas=2, max_replicas=3), now=0)
    now = feed(scaler, 0, 60, 500.0)
    assert scaler.decide(now, current=3).desired == 3
    quiet = Autoscaler(policy(min_replicas=2, max_replicas=3), now=0)
    now = feed(quiet, 0, 60, 0.0)
    assert quiet.decide(now, current=2).desired == 2


def test_scale_to_zero_waits_for_the_idle_period() -> None:
    scaler = Autoscaler(policy(min_replicas=0, scale_to_zero_after_s=30), now=0)
    now = feed(scaler, 0, 5, 3.0)
    now = feed(scaler, now, 20, 0.0)  # idle for 20 s: one replica stays warm
    assert scaler.decide(now, current=1).desired == 1
    now = feed(scaler, now, 11, 0.0)  # idle for 31 s
    decision = scaler.decide(now, current=1)
    assert decision.desired == 0
    assert decision.reason == "idle: scale to zero"
    assert scaler.decide(now + 1, current=0).desired == 0


def test_min_one_never_scales_to_zero() -> None:
    scaler = Autoscaler(policy(min_replicas=1, scale_to_zero_after_s=1), now=0)
    now = feed(scaler, 0, 120, 0.0)
    assert scaler.decide(now, current=1).desired == 1


def test_demand_at_zero_replicas_asks_for_one() -> None:
    scaler = Autoscaler(policy(min_replicas=0, scale_to_zero_after_s=10), now=0)
    now = feed(scaler, 0, 60, 0.0)
    assert scaler.decide(now, current=0).desired == 0
    scaler.note_demand(now)  # a request is held at the router
    assert scaler.decide(now, current=0).desired == 1
    scaler.record(now + 1, 1.0)
    assert scaler.decide(now + 1, current=0).desired >= 1


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="min <= max"):
        ScalingPolicy(min_replicas=3, max_replicas=2)
    with pytest.raises(ValueError, match="panicWindow <= stableWindow"):
        ScalingPolicy(min_replicas=1, max_replicas=2, stable_window_s=1, panic_window_s=2)


@settings(max_examples=200, deadline=None)
@given(
    min_replicas=st.integers(0, 3),
    extra=st.integers(0, 5),
    loads=st.lists(st.floats(0, 200, allow_nan=False), min_size=1, max_size=80),
    current=st.integers(0, 8),
)
def test_desired_is_always_within_bounds_and_never_drops_while_panicking(
    min_replicas: int, extra: int, loads: list[float], current: int
) -> None:
    max_replicas = max(1, min_replicas + extra)
    scaler = Autoscaler(policy(min_replicas=min_replicas, max_replicas=max_replicas, scale_to_zero_after_s=5.0), now=0)
    now = 0.0
    for load in loads:
        now += 1
        scaler.record(now, load)
        decision = scaler.decide(now, current)
        assert min_replicas <= decision.desired <= max_replicas
        if decision.panic:
            assert decision.desired >= min(current, max_replicas)
        current = decision.desired
