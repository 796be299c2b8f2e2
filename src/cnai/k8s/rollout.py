"""Is a rollout done? Read from the status the API server reports, no I/O.

Each function takes one object as the API returns it (a dict) and answers a
:class:`RolloutStatus`: ``done``, ``progressing`` (look again) or ``failed`` (stop waiting),
with a message a person can act on. The rules are the controllers' own:

- apps/v1 Deployment (what ``kubectl rollout status`` checks): the controller has seen this
  generation (``status.observedGeneration``); the ``Progressing`` condition is not
  ``ProgressDeadlineExceeded``; every desired replica is updated, no old replica is left, and
  every updated replica is available.
- KServe InferenceService and Knative Service: the ``Ready`` condition is ``True`` for the
  current generation; ``False`` means the revision failed (its message says why); ``Unknown``
  means still rolling out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

State = Literal["done", "progressing", "failed"]


@dataclass(frozen=True)
class RolloutStatus:
    state: State
    message: str

    @property
    def finished(self) -> bool:
        return self.state != "progressing"


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _generation_seen(obj: dict[str, Any]) -> bool:
    generation = obj.get("metadata", {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or (observed is not None and observed >= generation)


def deployment_status(obj: dict[str, Any]) -> RolloutStatus:
    name = obj.get("metadata", {}).get("name", "?")
    status = obj.get("status") or {}
    if not _generation_seen(obj):
        return RolloutStatus("progressing", f"deployment/{name}: waiting for the controller to see the new spec")
    progressing = _condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return RolloutStatus(
            "failed", f"deployment/{name} exceeded its progress deadline: {progressing.get('message', '')}"
        )
    desired = obj.get("spec", {}).get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < desired:
        return RolloutStatus("progressing", f"deployment/{name}: {updated} of {desired} replicas updated")
    if total > updated:
        return RolloutStatus("progressing", f"deployment/{name}: {total - updated} old replica(s) terminating")
    if available < updated:
        return RolloutStatus("progressing", f"deployment/{name}: {available} of {updated} updated replicas available")
    return RolloutStatus("done", f"deployment/{name}: {updated} replica(s) up to date and available")


def ready_condition_status(obj: dict[str, Any]) -> RolloutStatus:
    """KServe InferenceService or Knative Service, both report a ``Ready`` condition."""
    kind = obj.get("kind", "object").lower()
    name = obj.get("metadata", {}).get("name", "?")
    status = obj.get("status") or {}
    if not _generation_seen(obj):
        return RolloutStatus("progressing", f"{kind}/{name}: waiting for the controller to see the new spec")
    ready = _condition(status, "Ready")
    if ready is None or ready.get("status") == "Unknown":
        why = (ready or {}).get("message") or (ready or {}).get("reason") or "not reported yet"
        return RolloutStatus("progressing", f"{kind}/{name}: rolling out ({why})")
    if ready.get("status") == "False":
        why = ready.get("message") or ready.get("reason") or "no reason given"
        return RolloutStatus("failed", f"{kind}/{name} is not ready: {why}")
    url = status.get("url")
    return RolloutStatus("done", f"{kind}/{name} is ready" + (f" at {url}" if url else ""))


def rollout_status(obj: dict[str, Any]) -> RolloutStatus | None:
    """The status of a kind that rolls out; None for kinds that are done once applied."""
    kind, api = obj.get("kind"), obj.get("apiVersion", "")
    if kind == "Deployment" and api == "apps/v1":
        return deployment_status(obj)
    if (kind, api) in (("InferenceService", "serving.kserve.io/v1beta1"), ("Service", "serving.knative.dev/v1")):
        return ready_condition_status(obj)
    return None
