"""Spec documents the rendering tests share: each field that changes a manifest, generated here."""

from __future__ import annotations

from typing import Any

import yaml

from cnai.k8s import RenderOptions

MONITOR = {
    "apiVersion": "cnai.io/v1",
    "kind": "Monitor",
    "metadata": {"name": "wine-drift"},
    "spec": {
        "target": {"deployment": "wine"},
        "reference": {"modelVersion": "models:/quickstart-wine/3"},
        "features": ["alcohol", "hue"],
        "window": {"count": 500},
        "actions": [{"alert": None}],
    },
}


def deployment(name: str = "wine", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cnai.io/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"team": "ml"}},
        "spec": {"model": "models:/quickstart-wine/3", **spec},
    }


CASES: dict[str, list[dict[str, Any]]] = {
    # the example's shape with the alias pinned, a canary, and compute in Kubernetes' form
    "full": [
        deployment(
            replicas={"min": 2, "max": 6},
            autoscaling={"targetConcurrency": 10},
            batching={"maxBatchSize": 64, "maxBatchDelayMs": 2},
            canary={"model": "models:/quickstart-wine/4", "percent": 20},
            resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 2, "memory": "2Gi"}},
        ),
        MONITOR,
    ],
    "gpu-scale-to-zero": [
        deployment(
            "vision",
            replicas={"min": 0, "max": 2},
            autoscaling={"targetConcurrency": 2.5, "scaleToZeroAfterSeconds": 120},
            resources={"maxMemory": "6G", "limits": {"memory": "8Gi", "nvidia.com/gpu": 1}},
        )
    ],
    "local-path": [deployment("baked", model="/opt/models/wine", servedName="wine")],
    "remote-uri": [deployment("remote", model="s3://models/wine/3")],
}

# target -> the autoscalers it takes (the first is its default)
MATRIX = {"kubernetes": ["hpa", "keda"], "kserve": ["knative", "hpa", "keda"], "knative": ["knative", "hpa"]}
COMBOS = [(target, autoscaler) for target, scalers in MATRIX.items() for autoscaler in scalers]


def text(case: str) -> str:
    return "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in CASES[case])


def options(target: str, autoscaler: str | None, **extra: Any) -> RenderOptions:
    # Fixed images: golden files must not move with the package version.
    return RenderOptions(
        target=target,
        autoscaler=autoscaler,
        image="ghcr.io/cnai-project/cnai:test",
        serving_image="ghcr.io/cnai-project/cnai-serving:test",
        **extra,
    )
