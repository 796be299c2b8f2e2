"""Render targets as plugins: each turns a pinned Deployment spec into the manifests of one
platform. A new target is a module with a class registered here; nothing else changes.

    kubernetes   Deployment, Service, HPA or KEDA ScaledObject, PodDisruptionBudget, ServiceMonitor
    kserve       a KServe v1beta1 InferenceService (canaryTrafficPercent for the canary)
    knative      a Knative serving.knative.dev/v1 Service (traffic percentages between revisions)
"""

from __future__ import annotations

from cnai.k8s.targets.base import Target, get_target, target_names

__all__ = ["Target", "get_target", "target_names"]
