"""A ``kind: Monitor`` on Kubernetes: its spec in a ConfigMap and a one-replica Deployment of
``cnai controller monitor -f /etc/cnai/monitor.yaml`` (the monitor controller alone), which
reads the inference log from the event bus and writes windows to the control plane's database,
both named by the ``cnai-config`` Secret (CNAI_STORE, CNAI_EVENT_BUS, CNAI_ARTIFACTS, ...).

One replica with the Recreate strategy: the controller's consumer-group offsets and outbox are
transactional, but two controllers of one monitor would only compete for the same windows.
"""

from __future__ import annotations

from typing import Any

import yaml

from cnai.k8s import pod
from cnai.k8s.model import Manifest
from cnai.k8s.options import RenderOptions
from cnai.resources.documents import API_VERSION, Document

CONFIG_DIR = "/etc/cnai"
HEALTH_PORT = 8080


def render_monitor(doc: Document, spec: dict[str, Any], options: RenderOptions) -> list[Manifest]:
    name = f"{doc.name}-monitor"
    labels = {
        **doc.labels,
        "app.kubernetes.io/name": doc.name,
        "app.kubernetes.io/component": "monitor-controller",
        "app.kubernetes.io/part-of": "cnai",
        "app.kubernetes.io/managed-by": "cnai",
        "cnai.io/monitor": doc.name,
    }
    selector = {"cnai.io/monitor": doc.name}
    meta: dict[str, Any] = {"name": name}
    if options.namespace:
        meta["namespace"] = options.namespace
    meta["labels"] = labels
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": doc.kind,
        "metadata": {"name": doc.name},
        "spec": spec,
    }
    if doc.labels:
        document["metadata"]["labels"] = dict(doc.labels)
    config_map: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {"monitor.yaml": yaml.safe_dump(document, sort_keys=False)},
    }
    container: dict[str, Any] = {
        "name": "controller",
        "image": options.image,
        "command": ["cnai"],
        "args": ["controller", "monitor", "-f", f"{CONFIG_DIR}/monitor.yaml", "--host", "0.0.0.0"],
        "env": [{"name": "CNAI_HOME", "value": pod.HOME_DIR}, {"name": "HOME", "value": "/tmp"}],
        "envFrom": [{"secretRef": {"name": options.config_secret}}],
        "ports": [{"name": "http", "containerPort": HEALTH_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 20},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": pod.container_security(),
        "volumeMounts": [
            {"name": "spec", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    deployment: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    **pod.NO_SERVICE_LINKS,
                    "securityContext": pod.pod_security(),
                    "containers": [container],
                    "volumes": [
                        {"name": "spec", "configMap": {"name": name}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    return [config_map, deployment]
