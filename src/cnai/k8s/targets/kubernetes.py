"""Plain Kubernetes: needs nothing but the cluster (and Prometheus for metrics-driven scaling).

A Deployment becomes a Deployment of ``cnai serve`` pods (the model fetched by an init
container), a Service, an HPA or KEDA ScaledObject, a PodDisruptionBudget and a ServiceMonitor.

The canary is a second Deployment (``<name>-canary``) behind the same Service. A Service balances
over ready endpoints, so the canary's share of requests follows its share of replicas: the
canary gets ``round(stable * percent / (100 - percent))`` replicas (at least one) and its real
share, which can differ from the spec's percent for small replica counts, is stated in the
annotation ``cnai.io/traffic-share``. That is approximate by design: no extra component is
needed. Exact percentages come with ``--target knative`` or ``--target kserve``, which split by
request at their ingress. ``cnai k8s promote`` rolls the stable Deployment to the canary's pod
template and removes the canary; ``rollback`` scales the canary to zero.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cnai.k8s import autoscalers, pod
from cnai.k8s.model import ANN_NOTE, CANARY, STABLE, Manifest, ServedModel, model_annotations
from cnai.k8s.options import SERVE_PORT
from cnai.k8s.targets.base import register

ANN_SHARE = "cnai.io/traffic-share"


def canary_replicas(stable: int, percent: float) -> int:
    """Replicas that give the canary about ``percent`` of a Service's traffic beside ``stable``."""
    if percent <= 0:
        return 0
    if percent >= 100:
        return max(1, stable)
    return max(1, round(stable * percent / (100 - percent)))


def deployment_name(served: ServedModel, track: str) -> str:
    return served.name if track == STABLE else f"{served.name}-{CANARY}"


class KubernetesTarget:
    name: ClassVar[str] = "kubernetes"
    autoscalers: ClassVar[tuple[str, ...]] = ("hpa", "keda")
    description: ClassVar[str] = "Deployment + Service + HPA/KEDA + PDB + ServiceMonitor; no extra components"

    def render(self, served: ServedModel, autoscaler: str) -> list[Manifest]:
        spec = served.spec
        stable_name = deployment_name(served, STABLE)
        floor = max(1, spec.replicas.min)
        out: list[Manifest] = [self.deployment(served, STABLE, replicas=None)]
        if served.canary is not None and spec.canary is not None:
            replicas = canary_replicas(floor, spec.canary.percent)
            canary = self.deployment(served, CANARY, replicas=replicas)
            share = 100 * replicas / (replicas + floor) if replicas else 0.0
            canary["metadata"].setdefault("annotations", {})[ANN_SHARE] = (
                f"{share:.0f}% of requests with {floor} stable replica(s) (spec: {spec.canary.percent:g}%)"
            )
            out.append(canary)
        out.append(self.service(served))
        if autoscaler == "keda":
            out.append(autoscalers.keda(served, stable_name))
        else:
            scaler = autoscalers.hpa(served, stable_name)
            if spec.replicas.min == 0:
                scaler["metadata"]["annotations"] = {
                    ANN_NOTE: "replicas.min 0 needs --autoscaler keda or --target knative; the HPA keeps 1"
                }
            out.append(scaler)
        out.append(self.disruption_budget(served))
        out.append(self.service_monitor(served))
        return out

    def deployment(self, served: ServedModel, track: str, *, replicas: int | None) -> Manifest:
        source = served.source(track)
        name = deployment_name(served, track)
        selector = served.selector(track)
        init: list[dict[str, Any]] = []
        if source.is_registry:
            dest = f"{pod.MODELS_DIR}/{served.served_name}"
            init.append(pod.download_container(served, source, dest))
            model_ref = dest
        else:
            model_ref = source.uri  # a path in the image or on a volume the user mounts
        container: dict[str, Any] = {
            "name": "server",
            "image": served.options.serving_image,
            "command": ["cnai"],
            "args": pod.serve_args(served, model_ref),
            "env": pod.serve_env(served, allowed_hosts=pod.service_hosts(served.name)),
            "ports": [{"name": "http", "containerPort": SERVE_PORT, "protocol": "TCP"}],
            **pod.probes(),
            "securityContext": pod.container_security(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
            + ([{"name": "models", "mountPath": pod.MODELS_DIR, "readOnly": True}] if init else []),
        }
        resources = pod.resources(served)
        if resources:
            container["resources"] = resources
        pod_spec: dict[str, Any] = {
            "automountServiceAccountToken": False,  # the server never talks to the API server
            **pod.NO_SERVICE_LINKS,
            "securityContext": pod.pod_security(),
            "terminationGracePeriodSeconds": 30,
            "topologySpreadConstraints": pod.topology_spread(selector),
            "containers": [container],
            "volumes": pod.scratch_volumes(models=bool(init)),
        }
        if init:
            pod_spec["initContainers"] = init
        tolerations = pod.gpu_tolerations(served)
        if tolerations:
            pod_spec["tolerations"] = tolerations
        annotations = model_annotations(source)
        body: dict[str, Any] = {
            "selector": {"matchLabels": selector},
            # Zero-downtime rollouts: a new pod must be ready before an old one goes.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": selector | served.common_labels(), "annotations": annotations},
                "spec": pod_spec,
            },
        }
        if replicas is not None:  # the stable Deployment's count belongs to its autoscaler
            body = {"replicas": replicas, **body}
        meta = served.metadata(name, track=track)
        meta["annotations"] = dict(annotations)
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": body}

    def service(self, served: ServedModel) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": served.metadata(served.name),
            "spec": {
                "type": "ClusterIP",
                "selector": served.selector(),  # both tracks: the canary's share follows its replicas
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        }

    def disruption_budget(self, served: ServedModel) -> Manifest:
        # maxUnavailable rather than minAvailable: with one replica, minAvailable 1 would block
        # every node drain; one pod at a time keeps the others serving.
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": served.metadata(served.name),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": served.selector()}},
        }

    def service_monitor(self, served: ServedModel) -> Manifest:
        endpoint: dict[str, Any] = {"port": "http", "path": "/metrics", "interval": "15s", "scheme": "http"}
        if served.options.serve_secret:  # /metrics needs the token the server requires
            endpoint["authorization"] = {
                "type": "Bearer",
                "credentials": {"name": served.options.serve_secret, "key": "token"},
            }
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": served.metadata(served.name),
            "spec": {
                "selector": {"matchLabels": served.selector() | {"app.kubernetes.io/managed-by": "cnai"}},
                "endpoints": [endpoint],
            },
        }


register(KubernetesTarget.name)(KubernetesTarget)
