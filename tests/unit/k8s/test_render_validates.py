"""Every rendered manifest validates strictly: built-in kinds with kubernetes-validate --strict,
custom resources against their CRDs with unknown fields refused (tests/fixtures/k8s.py)."""

from __future__ import annotations

import pytest

from cnai.k8s import render_text
from tests.fixtures.k8s import validate_manifest, validate_manifests
from tests.unit.k8s.cases import CASES, COMBOS, options


@pytest.mark.parametrize(("target", "autoscaler"), COMBOS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_case_and_target_validates(case: str, target: str, autoscaler: str) -> None:
    for extra in (
        {},
        {
            "namespace": "ml",
            "serve_secret": "wine-token",
            "registry_secret": "reader",
            "event_bus": "kafka://kafka:9092",
        },
    ):
        rendered = render_text(_text(case), options(target, autoscaler, **extra))
        assert validate_manifests(m for r in rendered for m in r.manifests) >= len(rendered)


def _text(case: str) -> str:
    from tests.unit.k8s.cases import text

    return text(case)


def test_the_validator_refuses_an_unknown_field_in_each_kind() -> None:
    """The checks can fail: a misspelt key anywhere is caught, built-in or custom."""
    seen = set()
    for target, autoscaler in COMBOS:
        for rendered in render_text(_text("full"), options(target, autoscaler)):
            for manifest in rendered.manifests:
                key = (manifest["apiVersion"], manifest["kind"])
                if key in seen:
                    continue
                seen.add(key)
                broken = {**manifest, "spec": {**manifest.get("spec", {}), "replicaz": 1}}
                if manifest["kind"] == "ConfigMap":
                    broken = {**manifest, "dataz": {}}
                with pytest.raises(AssertionError, match=r"replicaz|dataz|unknown"):
                    validate_manifest(broken)
    assert {k for _, k in seen} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "InferenceService",
        "ClusterStorageContainer",
        "ConfigMap",
    }


def test_a_wrong_type_deep_in_a_crd_is_caught() -> None:
    rendered = render_text(_text("full"), options("kserve", "knative"))[0].manifests[0]
    rendered["spec"]["predictor"]["minReplicas"] = "two"
    with pytest.raises(AssertionError, match="minReplicas"):
        validate_manifest(rendered)


def test_the_cached_validator_agrees_with_kubernetes_validate_itself() -> None:
    from tests.fixtures.k8s import validate_with_kubernetes_validate

    manifests = [m for r in render_text(_text("full"), options("kubernetes", "hpa")) for m in r.manifests]
    builtin = [m for m in manifests if m["kind"] != "ServiceMonitor"]
    for manifest in builtin:
        validate_manifest(manifest)
        validate_with_kubernetes_validate(manifest)
        broken = {**manifest, "spec": {**manifest.get("spec", {}), "replicaz": 1}}
        if manifest["kind"] == "ConfigMap":
            broken = {**manifest, "dataz": {}}
        for check in (validate_manifest, validate_with_kubernetes_validate):
            with pytest.raises(AssertionError, match=r"replicaz|dataz"):
                check(broken)
