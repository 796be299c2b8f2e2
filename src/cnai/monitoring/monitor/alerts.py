"""The alert a breaching window sends: built once, stored in the outbox, sent unchanged on every
attempt (webhook body, alert event data, a command's ``CNAI_ALERT_JSON``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnai.events.cloudevents import format_time
from cnai.monitoring.monitor.spec import Action, MonitorSpec
from cnai.monitoring.monitor.store import OutboxAction


def idempotency_key(monitor: str, seq: int, index: int) -> str:
    return f"{monitor}/{seq}/{index}"


def alert_payload(
    monitor: str, spec: MonitorSpec, window: dict[str, Any], reason: str, key: str, detected_ms: int
) -> dict[str, Any]:
    """``window`` has the keys of :meth:`MonitorStore.windows` rows (window, start_ms, ... features)."""
    features = window.get("features") or {}
    target = spec.target
    return {
        "monitor": monitor,
        "window": window["window"],
        "generation": window["generation"],
        "idempotency_key": key,
        "verdict": reason,  # what breached: "drift", "service", "promptDrift" or "performance"
        "target": (
            {"model": target.model.name, **({"version": target.model.version} if target.model.version else {})}
            if target.model
            else {"deployment": target.model_name}
        ),
        "rows": window["rows"],
        "window_start": format_time(window["start_ms"]),
        "window_end": format_time(window["end_ms"]),
        "detected_at": format_time(detected_ms),
        "dataset_drift": window["dataset_drift"],
        "drift_share": window["drift_share"],
        "drift_share_threshold": spec.tests.drift_share_threshold,
        "drifted_features": sorted(f for f, r in features.items() if r.get("drifted")),
        "features": {
            f: {k: r.get(k) for k in ("test", "score", "threshold", "drifted")} for f, r in sorted(features.items())
        },
        "performance": window.get("performance"),
        "service": window.get("service"),
        "prompt_drift": window.get("prompt_drift"),
    }


def outbox(
    monitor: str,
    spec: MonitorSpec,
    window: dict[str, Any],
    reason: str,
    detected_ms: int,
    indices: Sequence[int] | None = None,
) -> list[OutboxAction]:
    """One outbox entry per action of the spec (or per action in ``indices``: those the incident
    policy fires), each under its own idempotency key."""
    out = []
    for index, action in enumerate(spec.actions):
        if indices is not None and index not in indices:
            continue
        key = idempotency_key(monitor, window["window"], index)
        out.append(
            OutboxAction(
                key=key,
                monitor=monitor,
                seq=window["window"],
                index=index,
                kind=action.kind,
                options=_options(action),
                payload=alert_payload(monitor, spec, window, reason, key, detected_ms),
            )
        )
    return out


def _options(action: Action) -> dict[str, Any]:
    return action.options.model_dump(mode="json", by_alias=True)
