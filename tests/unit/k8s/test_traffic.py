"""Promote and rollback, planned from recorded live objects."""

from __future__ import annotations

import pytest

from cnai.errors import InvalidState
from cnai.k8s import traffic
from tests.unit.k8s.recorded import recorded


def test_kubernetes_promote_rolls_stable_to_the_canary_template_and_removes_the_canary() -> None:
    stable, canary = recorded("deployment-complete"), recorded("deployment-canary")
    change = traffic.promote_deployments(stable, canary)
    ((ref, patch),) = change.patches
    assert ref == ("apps/v1", "Deployment", "wine")
    template = patch["spec"]["template"]
    assert template["metadata"]["labels"]["cnai.io/track"] == "stable"  # the stable selector still matches
    assert template["metadata"]["annotations"]["cnai.io/model-version"] == "4"
    assert template["spec"]["initContainers"][0]["args"][2] == "models:/wine/4"
    spread = template["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
    assert spread["cnai.io/track"] == "stable"
    assert canary["spec"]["template"]["metadata"]["labels"]["cnai.io/track"] == "canary"  # input untouched
    assert change.deletes == [("apps/v1", "Deployment", "wine-canary")]


def test_kubernetes_rollback_scales_the_canary_to_zero() -> None:
    change = traffic.rollback_deployments(recorded("deployment-canary"), "wine")
    assert change.patches == [(("apps/v1", "Deployment", "wine-canary"), {"spec": {"replicas": 0}})]
    assert change.deletes == []


def test_kserve_promote_and_rollback_patch_canary_traffic_percent() -> None:
    isvc = recorded("inferenceservice-canary-ready")
    ref = ("serving.kserve.io/v1beta1", "InferenceService", "wine")
    assert traffic.promote_inference_service(isvc).patches == [
        (ref, {"spec": {"predictor": {"canaryTrafficPercent": None}}})
    ]
    assert traffic.rollback_inference_service(isvc).patches == [
        (ref, {"spec": {"predictor": {"canaryTrafficPercent": 0}}})
    ]


def test_knative_rollback_pins_the_stable_revision_and_promote_sends_all_to_latest() -> None:
    ksvc = recorded("knative-service-ready")
    ((_, back),) = traffic.rollback_knative(ksvc).patches
    assert back["spec"]["traffic"] == [
        {"revisionName": "wine-v3-9f8e7d6c", "percent": 100, "tag": "stable"},
        {"latestRevision": True, "percent": 0, "tag": "canary"},
    ]
    ((_, forward),) = traffic.promote_knative(ksvc).patches
    assert forward["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


def test_no_canary_is_one_clear_error_per_target() -> None:
    with pytest.raises(InvalidState, match="no canary"):
        traffic.promote_deployments(recorded("deployment-complete"), None)
    with pytest.raises(InvalidState, match="no canary"):
        traffic.rollback_inference_service(recorded("inferenceservice-failed"))
    ksvc = recorded("knative-service-ready")
    ksvc["spec"]["traffic"] = [{"latestRevision": True, "percent": 100}]
    with pytest.raises(InvalidState, match="no canary"):
        traffic.promote_knative(ksvc)
