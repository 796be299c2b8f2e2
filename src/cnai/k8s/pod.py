"""The pieces of a model-server pod every target shares: the ``cnai serve`` container, the model
download, probes on the OIP health routes, and a locked-down security context.

Security: the pod runs as a non-root numeric user with a read-only root filesystem, no
capabilities, no privilege escalation and the runtime's default seccomp profile (the
``restricted`` Pod Security Standard). What must be written (the model, cnai's home with its
caches) goes to emptyDir volumes, which vanish with the pod.
"""

from __future__ import annotations

from typing import Any

from cnai.deploy.quantity import GPU
from cnai.deploy.specs import llm_flags, llm_switches
from cnai.k8s.model import ServedModel
from cnai.k8s.options import RUN_AS_USER, SERVE_PORT
from cnai.k8s.source import ModelSource

MODELS_DIR = "/models"
HOME_DIR = "/tmp/cnai"
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"


# A Service named "cnai" (the Helm chart's control plane) would give every pod of its namespace
# CNAI_PORT=tcp://10.x.y.z:8080 and friends through Kubernetes' service links, which cnai's
# settings read as its own CNAI_* variables and refuse: every rendered pod turns them off.
NO_SERVICE_LINKS = {"enableServiceLinks": False}


def container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(served: ServedModel) -> dict[str, Any]:
    res = served.spec.resources
    out: dict[str, Any] = {}
    if res.requests:
        out["requests"] = dict(res.requests)
    if res.limits:
        out["limits"] = dict(res.limits)
    return out


def wants_gpu(served: ServedModel) -> bool:
    return GPU in served.spec.resources.limits


def gpu_tolerations(served: ServedModel) -> list[dict[str, Any]]:
    # GPU nodes are commonly tainted so that only pods asking for GPUs land there.
    return [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}] if wants_gpu(served) else []


def probes(*, port: str | int | None = "http") -> dict[str, Any]:
    """Readiness on /v2/health/ready (the model is loaded), liveness on /v2/health/live; a startup
    probe gives a large model up to five minutes to load before liveness counts."""

    def get(path: str) -> dict[str, Any]:
        action: dict[str, Any] = {"path": path}
        if port is not None:
            action["port"] = port
        return action

    return {
        "startupProbe": {"httpGet": get(LIVE_PATH), "periodSeconds": 5, "failureThreshold": 60},
        "readinessProbe": {"httpGet": get(READY_PATH), "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"httpGet": get(LIVE_PATH), "periodSeconds": 10, "failureThreshold": 3},
    }


def serve_args(served: ServedModel, model_ref: str) -> list[str]:
    """``cnai serve NAME=MODEL`` with the spec's batching and memory budget."""
    spec = served.spec
    args = ["serve", f"{served.served_name}={model_ref}", "--host", "0.0.0.0", "--port", str(SERVE_PORT)]
    if spec.batching.max_batch_size is not None:
        args += ["--max-batch-size", str(spec.batching.max_batch_size)]
    if spec.batching.max_batch_delay_ms is not None:
        args += ["--max-batch-delay-ms", f"{spec.batching.max_batch_delay_ms:g}"]
    if spec.resources.max_memory is not None:
        # limits.memory is enforced by the container runtime here; the budget is the spec's own.
        args += ["--max-memory", spec.resources.max_memory]
    for flag, value in llm_flags(spec):
        args += [flag, str(value)]
    args += llm_switches(spec)
    if served.options.event_bus:
        args += ["--event-bus", served.options.event_bus]
    else:
        args.append("--no-inference-log")
    if not served.options.serve_secret:
        # A pod binds its IP: the server refuses that without a token unless told. Only the
        # Service reaches it; set --serve-secret to require a token from every client.
        args.append("--insecure")
    return args


def serve_env(served: ServedModel, *, allowed_hosts: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "CNAI_HOME", "value": HOME_DIR},
        {"name": "HOME", "value": "/tmp"},
        {"name": "CNAI_SERVE_ALLOWED_HOSTS", "value": allowed_hosts},
    ]
    if served.options.serve_secret:
        env.append(_secret_env("CNAI_SERVE_AUTH_TOKEN", served.options.serve_secret, optional=False))
    return env


def registry_env(served: ServedModel) -> list[dict[str, Any]]:
    """What a process needs to download ``models:/`` URIs from the control plane."""
    env: list[dict[str, Any]] = [
        {"name": "CNAI_HOME", "value": HOME_DIR},
        {"name": "HOME", "value": "/tmp"},
        {"name": "CNAI_TRACKING_URI", "value": served.options.cluster_tracking_uri},
    ]
    if served.options.registry_secret:
        env.append(_secret_env("MLFLOW_TRACKING_TOKEN", served.options.registry_secret, optional=False))
    return env


def service_hosts(name: str) -> str:
    """The Host names a client inside the cluster sends for Service ``name`` (the serve guard
    refuses others: DNS rebinding); $(POD_NAMESPACE) is expanded by the kubelet."""
    ns = "$(POD_NAMESPACE)"
    return ",".join([name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"])


def download_container(served: ServedModel, source: ModelSource, dest: str) -> dict[str, Any]:
    """An init container that fetches the pinned version into the shared models volume, so a
    registry outage shows as Init:Error before the server starts, and the server needs no
    registry credentials."""
    return {
        "name": "fetch-model",
        "image": served.options.serving_image,
        "command": ["cnai"],
        "args": ["models", "download", source.uri, dest],
        "env": registry_env(served),
        "securityContext": container_security(),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [
            {"name": "models", "mountPath": MODELS_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def scratch_volumes(*, models: bool) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if models:
        volumes.append({"name": "models", "emptyDir": {}})
    return volumes


def topology_spread(selector: dict[str, str]) -> list[dict[str, Any]]:
    """Spread replicas over zones and nodes; ScheduleAnyway so a small cluster still schedules."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def _secret_env(name: str, secret: str, *, optional: bool) -> dict[str, Any]:
    """An environment variable from key ``token`` of Secret ``secret`` (never a literal)."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": "token", "optional": optional}}}
