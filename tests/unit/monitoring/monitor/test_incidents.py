"""The incident policy, stepped through time: one incident fires each action once."""

from __future__ import annotations

from cnai.monitoring.monitor.incidents import Incident, on_late_breach, on_window, restored

HOUR = 3_600_000
TWO = [HOUR, HOUR]


def run(windows: list[tuple[int, bool]], cooldowns: list[int] = TWO) -> list[list[int]]:
    """The actions each window fires, for (time, breached) windows in sequence."""
    state, fired = Incident(), []
    for now, breached in windows:
        state, fire = on_window(state, breached, now, cooldowns)
        fired.append(fire)
    return fired


def test_consecutive_breaching_windows_fire_once() -> None:
    assert run([(t * 60_000, True) for t in range(9)]) == [[0, 1]] + [[]] * 8


def test_a_quiet_window_ends_the_incident_and_the_next_breach_fires_at_once() -> None:
    assert run([(0, True), (1000, True), (2000, False), (3000, True), (4000, True)]) == [[0, 1], [], [], [0, 1], []]


def test_a_long_incident_fires_again_after_the_cooldown() -> None:
    windows = [(0, True), (HOUR - 1, True), (HOUR, True), (HOUR + 1, True), (2 * HOUR, True)]
    assert run(windows) == [[0, 1], [], [0, 1], [], [0, 1]]


def test_each_action_keeps_its_own_cooldown() -> None:
    windows = [(0, True), (60_000, True), (120_000, True)]
    assert run(windows, cooldowns=[HOUR, 60_000]) == [[0, 1], [1], [1]]
    assert run(windows, cooldowns=[0, HOUR]) == [[0, 1], [0], [0]]  # 0: every breaching window


def test_quiet_windows_fire_nothing() -> None:
    assert run([(0, False), (1, False)]) == [[], []]


def test_a_late_breach_fires_only_what_is_out_of_its_cooldown() -> None:
    state, fire = on_window(Incident(), True, 0, TWO)
    state, _ = on_window(state, False, 1000, TWO)  # the drift is over...
    late, fire = on_late_breach(state, 2000, TWO)  # ...and labels show an older window was bad
    assert fire == []
    assert late.open is False  # it neither opens nor ends an incident
    _, fire = on_late_breach(late, HOUR, TWO)
    assert fire == [0, 1]


def test_a_restart_in_the_middle_of_an_incident_does_not_fire_again() -> None:
    state = restored(last_window_breached=True, fired_ms={0: 1000, 1: 1000})
    assert on_window(state, True, 2000, TWO)[1] == []
    assert on_window(restored(False, {0: 1000}), True, 2000, TWO)[1] == [0, 1]
