"""What rendering decides: pinned models, autoscaler choices, canary shares, one-line errors."""

from __future__ import annotations

import pytest

from cnai.errors import InvalidArgument
from cnai.k8s import render_text
from cnai.k8s.source import resolve_model
from cnai.k8s.targets.kubernetes import canary_replicas
from tests.unit.k8s.cases import options, text


def _by_kind(case: str, target: str, autoscaler: str | None) -> dict[str, dict]:  # type: ignore[type-arg]
    rendered = render_text(text(case), options(target, autoscaler))
    return {f"{m['kind']}/{m['metadata']['name']}": m for r in rendered for m in r.manifests}


def test_an_alias_without_a_tracking_uri_is_one_clear_error() -> None:
    with pytest.raises(InvalidArgument, match="names an alias: pass --tracking-uri"):
        resolve_model("models:/wine@champion", None)


def test_paths_and_versions_need_no_registry() -> None:
    assert resolve_model("models:/wine/7", None).version == "7"
    local = resolve_model("file:///opt/models/wine", None)
    assert (local.uri, local.version, local.is_registry) == ("/opt/models/wine", None, False)
    assert resolve_model("s3://bucket/wine", None).is_remote


def test_an_invalid_spec_names_the_field() -> None:
    bad = text("local-path").replace("servedName: wine", "servedName: wine\n  replicas: {min: 3, max: 1}")
    with pytest.raises(InvalidArgument, match=r"spec.replicas: .*max \(1\) must be at least min \(3\)"):
        render_text(bad, options("kubernetes", None))


def test_unknown_kind_target_and_autoscaler_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="Unknown target 'nomad'"):
        render_text(text("local-path"), options("nomad", None))
    with pytest.raises(InvalidArgument, match="--autoscaler keda does not apply to --target knative"):
        render_text(text("local-path"), options("knative", "keda"))
    other = text("local-path").replace("kind: Deployment", "kind: Pipeline")
    with pytest.raises(InvalidArgument, match="cannot render kind 'Pipeline'"):
        render_text(other, options("kubernetes", None))


def test_hpa_keeps_one_replica_where_the_spec_scales_to_zero_and_says_so() -> None:
    hpa = _by_kind("gpu-scale-to-zero", "kubernetes", "hpa")["HorizontalPodAutoscaler/vision"]
    assert hpa["spec"]["minReplicas"] == 1
    assert "keda" in hpa["metadata"]["annotations"]["cnai.io/note"]
    # targetConcurrency 2.5 as a quantity; no CPU request in this spec, so no CPU metric
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Pods"]
    assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "2500m"


def test_keda_scales_to_zero_on_the_in_flight_query() -> None:
    scaled = _by_kind("gpu-scale-to-zero", "kubernetes", "keda")["ScaledObject/vision"]["spec"]
    assert scaled["minReplicaCount"] == 0
    assert scaled["cooldownPeriod"] == 120
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["query"].startswith("sum(cnai_serving_in_flight{")
    assert trigger["metadata"]["threshold"] == "2.5"


def test_gpus_are_limits_with_a_toleration_and_ignored_nowhere() -> None:
    for target, autoscaler in (("kubernetes", "hpa"), ("kserve", "knative"), ("knative", "knative")):
        text_ = str(_by_kind("gpu-scale-to-zero", target, autoscaler))
        assert "'nvidia.com/gpu': '1'" in text_
        assert "'key': 'nvidia.com/gpu', 'operator': 'Exists'" in text_


def test_the_canary_share_follows_replicas() -> None:
    assert canary_replicas(2, 20) == 1  # 1 of 3: about 33 %
    assert canary_replicas(8, 20) == 2  # 2 of 10: exactly 20 %
    assert canary_replicas(4, 0) == 0
    assert canary_replicas(1, 50) == 1
    objs = _by_kind("full", "kubernetes", "hpa")
    assert objs["Deployment/wine-canary"]["spec"]["replicas"] == 1
    assert "replicas" not in objs["Deployment/wine"]["spec"]  # the HPA owns it


def test_kserve_canary_and_storage_uri() -> None:
    objs = _by_kind("full", "kserve", "knative")
    predictor = objs["InferenceService/wine"]["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 20
    env = {e["name"]: e.get("value") for e in predictor["containers"][0]["env"]}
    assert env["STORAGE_URI"] == "models:/quickstart-wine/4"
    assert (
        objs["InferenceService/wine"]["metadata"]["annotations"]["cnai.io/stable-model"] == "models:/quickstart-wine/3"
    )
    storage = objs["ClusterStorageContainer/cnai-models"]["spec"]
    assert storage["supportedUriFormats"] == [{"prefix": "models:/"}]


def test_knative_splits_between_named_revisions() -> None:
    service = _by_kind("full", "knative", "knative")["Service/wine"]["spec"]
    stable_only = _by_kind("full", "knative", "knative")  # same render: revision names are stable
    assert service["traffic"][0]["percent"] == 80
    assert service["traffic"][0]["tag"] == "stable"
    assert service["traffic"][1] == {"latestRevision": True, "percent": 20, "tag": "canary"}
    assert service["template"]["metadata"]["name"].startswith("wine-v4-")
    assert service["traffic"][0]["revisionName"].startswith("wine-v3-")
    assert stable_only["Service/wine"]["spec"] == service
    annotations = service["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/target"] == "10"
    assert annotations["autoscaling.knative.dev/panic-window-percentage"] == "10"


def test_a_monitor_runs_its_own_controller_from_a_config_map() -> None:
    objs = _by_kind("full", "kubernetes", "hpa")
    config = objs["ConfigMap/wine-drift-monitor"]
    assert "kind: Monitor" in config["data"]["monitor.yaml"]
    deployment = objs["Deployment/wine-drift-monitor"]["spec"]
    container = deployment["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["controller", "monitor", "-f"]
    assert container["image"] == "ghcr.io/cnai-project/cnai:test"
    assert deployment["replicas"] == 1
    assert deployment["strategy"] == {"type": "Recreate"}


def test_the_pod_is_locked_down() -> None:
    pod = _by_kind("full", "kubernetes", "hpa")["Deployment/wine"]["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"]
        assert ctx["readOnlyRootFilesystem"]
        assert not ctx["allowPrivilegeEscalation"]
        assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    server = pod["containers"][0]
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_knative_gets_windows_its_admission_accepts() -> None:
    spec = (
        "apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: w}\n"
        "spec: {model: models:/w/1, autoscaling: {stableWindowSeconds: 2, panicWindowSeconds: 0.01}}\n"
    )
    service = render_text(spec, options("knative", None))[0].manifests[0]
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/window"] == "6s"
    assert annotations["autoscaling.knative.dev/panic-window-percentage"] == "1"


def test_no_pod_gets_service_link_variables() -> None:
    """A Service named cnai would hand every pod CNAI_PORT=tcp://..., which cnai's settings refuse."""
    for target, autoscaler in (("kubernetes", "hpa"), ("kserve", "knative"), ("knative", "knative")):
        rendered = render_text(text("full"), options(target, autoscaler))
        pods = []
        for manifest in (m for r in rendered for m in r.manifests):
            spec = manifest.get("spec", {})
            if manifest["kind"] == "Deployment":
                pods.append(spec["template"]["spec"])
            elif manifest["kind"] == "InferenceService":
                pods.append(spec["predictor"])
            elif manifest["kind"] == "Service" and "template" in spec:
                pods.append(spec["template"]["spec"])
        assert pods
        assert all(p["enableServiceLinks"] is False for p in pods)
