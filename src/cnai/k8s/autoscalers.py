"""Autoscalers for the plain-Kubernetes target: a HorizontalPodAutoscaler or a KEDA ScaledObject.

The spec's signal is concurrency: ``targetConcurrency`` in-flight requests per replica, the
metric cnai's own autoscaler (Knative's model) uses and ``cnai serve`` exports as the gauge
``cnai_serving_in_flight``. Kubernetes' HPA has CPU and memory built in, but concurrency is not
CPU: a model waiting on I/O or batching is busy at low CPU. So:

- ``hpa``: an ``autoscaling/v2`` HPA on the *Pods* metric ``cnai_serving_in_flight`` averaged per
  pod, which the custom-metrics API serves once prometheus-adapter (or an equivalent) exposes the
  scraped series; when the spec requests CPU, a CPU-utilisation metric (80 %) is added, so the HPA
  still scales up on load if the custom metric is missing (the HPA takes the largest proposal of
  the metrics it can read). HPA cannot go below one replica: ``replicas.min: 0`` becomes 1.
- ``keda``: a ScaledObject with a Prometheus trigger on the same series, summed over the
  deployment's pods, with ``threshold`` = targetConcurrency per replica (KEDA's AverageValue).
  KEDA allows ``minReplicaCount: 0``; it scales back to zero after ``scaleToZeroAfterSeconds``.
  From zero it wakes on the query only, and with no pod the in-flight series is empty: requests
  that arrive then are not counted. Scale-from-zero on traffic needs a signal that exists
  without pods (KEDA's HTTP add-on, an ingress's request metric) or Knative.
"""

from __future__ import annotations

from typing import Any

from cnai.k8s.model import Manifest, ServedModel

IN_FLIGHT_METRIC = "cnai_serving_in_flight"
CPU_UTILISATION = 80


def quantity_text(value: float) -> str:
    """targetConcurrency as a quantity: whole numbers plain, fractions in milli-units."""
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def hpa(served: ServedModel, deployment: str) -> Manifest:
    spec = served.spec
    metrics: list[dict[str, Any]] = [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": IN_FLIGHT_METRIC},
                "target": {"type": "AverageValue", "averageValue": quantity_text(spec.autoscaling.target_concurrency)},
            },
        }
    ]
    if "cpu" in spec.resources.requests:  # utilisation is relative to the request: needs one
        metrics.append(
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": CPU_UTILISATION}},
            }
        )
    assert spec.replicas.max is not None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": served.metadata(deployment),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": max(1, spec.replicas.min),
            "maxReplicas": spec.replicas.max,
            "metrics": metrics,
            "behavior": {
                # The spec's stable window is how long load must stay low before replicas go.
                "scaleDown": {"stabilizationWindowSeconds": round(spec.autoscaling.stable_window_seconds)},
            },
        },
    }


def in_flight_query(served: ServedModel, deployment: str) -> str:
    selector = f'pod=~"{deployment}-[a-z0-9]+-[a-z0-9]+"'
    if served.options.namespace:
        selector = f'namespace="{served.options.namespace}",{selector}'
    return f"sum({IN_FLIGHT_METRIC}{{{selector}}})"


def keda(served: ServedModel, deployment: str) -> Manifest:
    spec = served.spec
    assert spec.replicas.max is not None
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicaCount": spec.replicas.min,
        "maxReplicaCount": spec.replicas.max,
        "pollingInterval": 15,
        "triggers": [
            {
                "type": "prometheus",
                "metadata": {
                    "serverAddress": served.options.prometheus_url,
                    "query": in_flight_query(served, deployment),
                    "threshold": f"{spec.autoscaling.target_concurrency:g}",
                    # Any request in flight wakes a deployment scaled to zero.
                    "activationThreshold": "0",
                },
            }
        ],
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": round(spec.autoscaling.stable_window_seconds)}}
            }
        },
    }
    if spec.autoscaling.scale_to_zero_after_seconds is not None:
        body["cooldownPeriod"] = round(spec.autoscaling.scale_to_zero_after_seconds)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": served.metadata(deployment),
        "spec": body,
    }
