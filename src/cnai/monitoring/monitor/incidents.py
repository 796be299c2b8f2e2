"""One incident fires an action once: which actions a breaching window fires (a pure policy).

Drift rarely lasts one window: once the input has shifted, every following window breaches
until someone acts. Firing every action on every breaching window would page on-call, and run a
retraining, once per window (the quickstart retrained nine times for one shift). So, as
Alertmanager groups alerts and repeats a firing one only after ``repeat_interval``:

- consecutive breaching windows are **one incident**; the first breaching window fires every
  action, and while the incident lasts an action fires again only once ``cooldownSeconds`` (its
  own, or the monitor's; default 3600) have passed since it last fired;
- a window that does not breach **ends the incident**: the next breach is a new incident and
  fires at once, whatever the cooldown;
- a **late breach** (a window whose labels arrived after it closed breaches its performance
  thresholds) cannot be placed in the sequence of windows any more, so it only fires the
  actions whose cooldown has passed since they last fired; it neither opens nor ends an incident.

Time is an argument (the controller's clock), and the state is a value: tests step time, and the
controller rebuilds the state from its database after a restart (:func:`restored`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Incident:
    """What the policy remembers between windows."""

    open: bool = False  # the last window in sequence breached
    fired_ms: Mapping[int, int] = field(default_factory=dict)  # action index -> when it last fired


def on_window(state: Incident, breached: bool, now_ms: int, cooldowns_ms: Sequence[int]) -> tuple[Incident, list[int]]:
    """A window closed (in sequence): the new state, and the indices of the actions to fire."""
    if not breached:
        return Incident(False, state.fired_ms), []
    fire = [i for i, cooldown in enumerate(cooldowns_ms) if not state.open or _cooled(state, i, cooldown, now_ms)]
    return Incident(True, _fired(state, fire, now_ms)), fire


def on_late_breach(state: Incident, now_ms: int, cooldowns_ms: Sequence[int]) -> tuple[Incident, list[int]]:
    """A closed window breached afterwards (performance from late labels)."""
    fire = [i for i, cooldown in enumerate(cooldowns_ms) if _cooled(state, i, cooldown, now_ms)]
    return Incident(state.open, _fired(state, fire, now_ms)), fire


def restored(last_window_breached: bool, fired_ms: Mapping[int, int]) -> Incident:
    """The state as the database holds it: whether the newest window breached, and when each
    action was last queued."""
    return Incident(last_window_breached, dict(fired_ms))


def _cooled(state: Incident, index: int, cooldown_ms: int, now_ms: int) -> bool:
    last = state.fired_ms.get(index)
    return last is None or now_ms - last >= cooldown_ms


def _fired(state: Incident, fire: list[int], now_ms: int) -> dict[int, int]:
    return {**state.fired_ms, **dict.fromkeys(fire, now_ms)}
