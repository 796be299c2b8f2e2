"""Promote and roll back a canary on the cluster: what to change, per target, no I/O.

Each function takes the live object(s) as the API returns them and returns the
:class:`Change` to make: merge patches to send and objects to delete.

- kubernetes: promote gives the stable Deployment the canary's pod template (a rolling update
  to the canary's model) and deletes the canary Deployment; rollback scales the canary to 0.
- kserve: promote removes ``canaryTrafficPercent`` (KServe then sends all traffic to the newest
  revision); rollback sets it to 0 (all traffic stays on the last rolled-out revision).
- knative: promote sends 100 % to the latest revision; rollback 100 % to the revision tagged
  ``stable``, keeping the canary reachable on its tag with 0 %.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from cnai.errors import InvalidState
from cnai.k8s.model import CANARY, STABLE

Ref = tuple[str, str, str]  # apiVersion, kind, name


@dataclass
class Change:
    patches: list[tuple[Ref, dict[str, Any]]] = field(default_factory=list)  # JSON merge patches
    deletes: list[Ref] = field(default_factory=list)
    summary: str = ""


def _ref(obj: dict[str, Any]) -> Ref:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


def promote_deployments(stable: dict[str, Any], canary: dict[str, Any] | None) -> Change:
    if canary is None:
        raise InvalidState(f"deployment/{stable['metadata']['name']} has no canary to promote")
    template = copy.deepcopy(canary["spec"]["template"])
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels["cnai.io/track"] = STABLE  # the stable Deployment's selector
    spread = template.get("spec", {}).get("topologySpreadConstraints") or []
    for constraint in spread:
        constraint.get("labelSelector", {}).get("matchLabels", {})["cnai.io/track"] = STABLE
    return Change(
        patches=[(_ref(stable), {"spec": {"template": template}})],
        deletes=[_ref(canary)],
        summary=f"deployment/{stable['metadata']['name']} rolls to the canary's model; the canary is removed",
    )


def rollback_deployments(canary: dict[str, Any] | None, stable_name: str) -> Change:
    if canary is None:
        raise InvalidState(f"deployment/{stable_name} has no canary to roll back")
    return Change(
        patches=[(_ref(canary), {"spec": {"replicas": 0}})],
        summary=f"deployment/{canary['metadata']['name']} scaled to 0: all traffic on the stable replicas",
    )


def promote_inference_service(isvc: dict[str, Any]) -> Change:
    predictor = isvc.get("spec", {}).get("predictor", {})
    if "canaryTrafficPercent" not in predictor:
        raise InvalidState(f"inferenceservice/{isvc['metadata']['name']} has no canary (canaryTrafficPercent)")
    return Change(
        patches=[(_ref(isvc), {"spec": {"predictor": {"canaryTrafficPercent": None}}})],
        summary=f"inferenceservice/{isvc['metadata']['name']}: all traffic to the newest revision",
    )


def rollback_inference_service(isvc: dict[str, Any]) -> Change:
    predictor = isvc.get("spec", {}).get("predictor", {})
    if "canaryTrafficPercent" not in predictor:
        raise InvalidState(f"inferenceservice/{isvc['metadata']['name']} has no canary (canaryTrafficPercent)")
    return Change(
        patches=[(_ref(isvc), {"spec": {"predictor": {"canaryTrafficPercent": 0}}})],
        summary=f"inferenceservice/{isvc['metadata']['name']}: all traffic back on the previous revision",
    )


def _stable_revision(ksvc: dict[str, Any]) -> str:
    for entry in ksvc.get("spec", {}).get("traffic") or []:
        if entry.get("tag") == STABLE and entry.get("revisionName"):
            return str(entry["revisionName"])
    raise InvalidState(f"service/{ksvc['metadata']['name']} has no canary (no traffic entry tagged {STABLE!r})")


def promote_knative(ksvc: dict[str, Any]) -> Change:
    _stable_revision(ksvc)  # refuses a Service without a canary
    return Change(
        patches=[(_ref(ksvc), {"spec": {"traffic": [{"latestRevision": True, "percent": 100}]}})],
        summary=f"service/{ksvc['metadata']['name']}: 100% to the latest revision",
    )


def rollback_knative(ksvc: dict[str, Any]) -> Change:
    stable = _stable_revision(ksvc)
    traffic = [
        {"revisionName": stable, "percent": 100, "tag": STABLE},
        {"latestRevision": True, "percent": 0, "tag": CANARY},
    ]
    return Change(
        patches=[(_ref(ksvc), {"spec": {"traffic": traffic}})],
        summary=f"service/{ksvc['metadata']['name']}: 100% back on {stable}",
    )
