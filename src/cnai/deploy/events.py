"""What happened to a deployment, newest last: replicas started, ready, failed and stopped,
autoscaling decisions, roll-outs and canary changes; for ``cnai describe`` and the web UI.

Kubernetes keeps such events beside the object they are about; here they travel in the
deployment's status (``status.events``), like the traffic history (:mod:`cnai.deploy.traffic`):
the status is already the durable record the controller writes and every reader reads, so no
table, no migration and no retention job. The list is bounded (``KEEP`` entries), so a replica
that crash-loops for a day costs the status a few kilobytes, not megabytes; the oldest go first.

A fresh controller starts from the events its predecessor wrote, so a restart does not wipe the
timeline. Each event is a small JSON object::

    {"t": 1733550000000, "type": "ScaledUp", "target": "primary",
     "message": "1 -> 2 replicas (panic; concurrency stable 3.1, panic 7.4, target 2)",
     "from": 1, "to": 2, "concurrency": 3.1}

``type`` is one of :data:`TYPES`; replica events also carry ``replica`` (``primary-4711``),
``role``, ``port`` and ``pid``, which is how the UI finds a replica's log after it has gone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from cnai._clock import now_ms

KEEP = 100

REPLICA_STARTED = "ReplicaStarted"
REPLICA_ADOPTED = "ReplicaAdopted"
REPLICA_READY = "ReplicaReady"
REPLICA_FAILED = "ReplicaFailed"
REPLICA_STOPPED = "ReplicaStopped"
SCALED_UP = "ScaledUp"
SCALED_DOWN = "ScaledDown"
ROLLOUT_STARTED = "RolloutStarted"
ROLLOUT_COMPLETE = "RolloutComplete"
CANARY_STARTED = "CanaryStarted"
CANARY_WEIGHT = "CanaryWeightChanged"
CANARY_PROMOTED = "CanaryPromoted"
CANARY_ROLLED_BACK = "CanaryRolledBack"
CANARY_REMOVED = "CanaryRemoved"

TYPES = (
    REPLICA_STARTED, REPLICA_ADOPTED, REPLICA_READY, REPLICA_FAILED, REPLICA_STOPPED, SCALED_UP, SCALED_DOWN,
    ROLLOUT_STARTED, ROLLOUT_COMPLETE, CANARY_STARTED, CANARY_WEIGHT, CANARY_PROMOTED, CANARY_ROLLED_BACK,
    CANARY_REMOVED,
)  # fmt: skip
WARNINGS = frozenset({REPLICA_FAILED, CANARY_ROLLED_BACK})


class EventLog:
    """The last ``keep`` events of one deployment; ``export()`` is what the status carries."""

    def __init__(self, previous: Iterable[object] = (), keep: int = KEEP, clock: Callable[[], int] = now_ms) -> None:
        self._clock = clock
        # Only well-formed entries survive a restart: the status is also written by older versions.
        self._events: deque[dict[str, Any]] = deque(
            (dict(e) for e in previous if isinstance(e, dict) and isinstance(e.get("t"), int) and e.get("type")),
            maxlen=keep,
        )

    def add(self, kind: str, message: str, *, target: str | None = None, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"t": self._clock(), "type": kind}
        if target is not None:
            event["target"] = target
        event["message"] = message
        event.update({k: v for k, v in fields.items() if v is not None})
        self._events.append(event)
        return event

    def export(self) -> list[dict[str, Any]]:
        return list(self._events)

    def __len__(self) -> int:
        return len(self._events)
