"""Knative Serving: a ``serving.knative.dev/v1`` Service. Needs Knative Serving (and its
ingress, e.g. Kourier); gives request-driven scale to zero and exact traffic percentages.

The spec's autoscaling maps onto Knative's own concurrency autoscaler (KPA), which cnai's local
autoscaler follows: ``autoscaling.knative.dev/target`` = targetConcurrency, ``window`` = the
stable window, ``panic-window-percentage`` and ``panic-threshold-percentage`` from the panic
window and threshold, ``min-scale``/``max-scale`` from replicas (``min: 0`` scales to zero after
``scale-to-zero-pod-retention-period``). ``--autoscaler hpa`` selects Knative's HPA class on CPU
instead (no scale to zero).

The model: the container runs ``cnai serve models:/name/N``, which downloads the pinned version
itself at start (Knative turns init containers off by default), into the emptyDir under /tmp.

Canary: revisions are named after their model and pod template (``<name>-v7-<hash>``), so the
stable revision's name is known without asking the cluster. The template is the canary's; the
traffic block sends ``100 - percent`` to the stable revision and ``percent`` to the latest
(tagged ``canary``, reachable on its own URL). The stable revision must exist, i.e. have been
applied before. ``promote`` sends 100 % to the latest; ``rollback`` 100 % to the stable revision.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from cnai.k8s import autoscalers, pod
from cnai.k8s.model import CANARY, STABLE, Manifest, ServedModel, model_annotations
from cnai.k8s.options import SERVE_PORT
from cnai.k8s.targets.base import register

KPA = "kpa.autoscaling.knative.dev"
HPA = "hpa.autoscaling.knative.dev"


class KnativeTarget:
    name: ClassVar[str] = "knative"
    autoscalers: ClassVar[tuple[str, ...]] = ("knative", "hpa")
    description: ClassVar[str] = "a Knative Service; needs Knative Serving; scale to zero, exact traffic split"

    def render(self, served: ServedModel, autoscaler: str) -> list[Manifest]:
        stable = self.template(served, STABLE, autoscaler)
        body: dict[str, Any] = {"template": stable}
        meta = served.metadata(served.name)
        meta["annotations"] = model_annotations(served.stable)
        if served.canary is not None and served.spec.canary is not None:
            canary = self.template(served, CANARY, autoscaler)
            percent = round(served.spec.canary.percent)
            body = {
                "template": canary,
                "traffic": [
                    {"revisionName": stable["metadata"]["name"], "percent": 100 - percent, "tag": STABLE},
                    {"latestRevision": True, "percent": percent, "tag": CANARY},
                ],
            }
            meta["annotations"] = model_annotations(served.canary) | {"cnai.io/stable-model": served.stable.uri}
        return [{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": meta, "spec": body}]

    def template(self, served: ServedModel, track: str, autoscaler: str) -> dict[str, Any]:
        source = served.source(track)
        env = pod.serve_env(served, allowed_hosts="*")  # Knative's ingress routes by Host already
        if source.is_registry:
            env += [e for e in pod.registry_env(served) if e["name"] not in {"CNAI_HOME", "HOME"}]
        container: dict[str, Any] = {
            "name": "server",
            "image": served.options.serving_image,
            "command": ["cnai"],
            "args": pod.serve_args(served, source.uri),
            "env": env,
            # Knative routes to the one declared port; "http1" is its name for HTTP/1.1.
            "ports": [{"name": "http1", "containerPort": SERVE_PORT}],
            **pod.probes(port=None),
            "securityContext": pod.container_security(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
        resources = pod.resources(served)
        if resources:
            container["resources"] = resources
        spec: dict[str, Any] = {
            "containerConcurrency": 0,  # no hard limit: the autoscaler's target is a soft one
            "timeoutSeconds": 300,
            "automountServiceAccountToken": False,
            **pod.NO_SERVICE_LINKS,
            "containers": [container],
            "volumes": pod.scratch_volumes(models=False),
        }
        tolerations = pod.gpu_tolerations(served)
        if tolerations:
            spec["tolerations"] = tolerations
        annotations = self.autoscaling(served, autoscaler) | model_annotations(source)
        digest = hashlib.sha1(json.dumps([spec, annotations], sort_keys=True).encode()).hexdigest()[:8]
        labels = served.selector(track) | served.common_labels()
        return {
            "metadata": {"name": f"{served.name}-{source.slug}-{digest}", "labels": labels, "annotations": annotations},
            "spec": spec,
        }

    def autoscaling(self, served: ServedModel, autoscaler: str) -> dict[str, str]:
        a = served.spec.autoscaling
        r = served.spec.replicas
        assert r.max is not None
        if autoscaler == "hpa":
            return {
                "autoscaling.knative.dev/class": HPA,
                "autoscaling.knative.dev/metric": "cpu",
                "autoscaling.knative.dev/target": str(autoscalers.CPU_UTILISATION),
                "autoscaling.knative.dev/min-scale": str(max(1, r.min)),
                "autoscaling.knative.dev/max-scale": str(r.max),
            }
        # Knative's admission refuses a window outside 6 s..1 h and a panic share outside 1..100 %:
        # the nearest values it takes, rather than a manifest the cluster rejects.
        window = min(max(a.stable_window_seconds, 6.0), 3600.0)
        panic_share = min(max(100 * a.panic_window_seconds / a.stable_window_seconds, 1.0), 100.0)
        out = {
            "autoscaling.knative.dev/class": KPA,
            "autoscaling.knative.dev/metric": "concurrency",
            "autoscaling.knative.dev/target": f"{a.target_concurrency:g}",
            "autoscaling.knative.dev/window": f"{window:g}s",
            "autoscaling.knative.dev/panic-window-percentage": f"{panic_share:g}",
            "autoscaling.knative.dev/panic-threshold-percentage": f"{100 * a.panic_threshold:g}",
            "autoscaling.knative.dev/min-scale": str(r.min),
            "autoscaling.knative.dev/max-scale": str(r.max),
        }
        if r.min == 0 and a.scale_to_zero_after_seconds is not None:
            out["autoscaling.knative.dev/scale-to-zero-pod-retention-period"] = f"{a.scale_to_zero_after_seconds:g}s"
        return out


register(KnativeTarget.name)(KnativeTarget)
