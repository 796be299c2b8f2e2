"""A study as data, best trial first: what `cnai tune show` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.tune.driver import ERROR, PARENT_RUN, WORKER, _state_name
from cnai.tune.store import StudyStore

_ORDER = {"complete": 0, "pruned": 1, "failed": 2}


def describe(home: Path, name: str) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = StudyStore(home).load(name)
    maximize = study.direction.name == "MAXIMIZE"
    trials = []
    for t in study.get_trials(deepcopy=False):
        duration = None
        if t.datetime_start and t.datetime_complete:
            duration = (t.datetime_complete - t.datetime_start).total_seconds()
        trials.append(
            {
                "number": t.number,
                "state": _state_name(t.state),
                "value": t.value,
                "params": dict(t.params),
                "duration_s": duration,
                "worker": str(t.user_attrs.get(WORKER, "")),
                "error": str(t.user_attrs.get(ERROR, "")),
            }
        )

    def key(t: dict[str, Any]) -> tuple[int, float, int]:
        value = t["value"] if t["value"] is not None else 0.0
        return (_ORDER.get(t["state"], 3), -value if maximize else value, t["number"])

    trials.sort(key=key)
    best = next((t for t in trials if t["state"] == "complete"), None)
    return {
        "study": name,
        "direction": study.direction.name.lower(),
        "best_value": best["value"] if best else None,
        "best_params": best["params"] if best else {},
        "run_id": study.user_attrs.get(PARENT_RUN, ""),
        "trials": trials,
    }
