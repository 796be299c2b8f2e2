"""KServe: a ``serving.kserve.io/v1beta1`` InferenceService whose predictor is a ``cnai serve``
container (cnai speaks KServe's Open Inference Protocol v2, so KServe clients work unchanged).

Model: ``storageUri`` carries the pinned ``models:/name/N`` (or the spec's s3://, gs://, pvc://
URI); KServe's storage initializer puts it under ``/mnt/models``. KServe knows no ``models:/``
scheme by itself: the same render writes a ``ClusterStorageContainer`` (install once per
cluster) that runs ``cnai models download SRC DEST`` for URIs starting with ``models:/``. A
path in the spec is served from inside the container as it is (baked into the image or mounted).

Autoscaling (``--autoscaler``):
- ``knative`` (default): KServe's Serverless mode, Knative's concurrency autoscaler with
  ``scaleMetric: concurrency`` and ``scaleTarget`` = targetConcurrency; ``minReplicas: 0``
  scales to zero.
- ``hpa``: RawDeployment mode (no Knative or Istio needed) with an HPA on CPU, the only
  request-independent metric KServe's HPA class takes besides memory.
- ``keda``: RawDeployment mode with KServe's KEDA class and an external Prometheus metric on
  the in-flight gauge (``autoScaling.metrics``).

Canary: KServe splits between the last ready revision and the newest. The rendered predictor
is the *canary* model with ``canaryTrafficPercent``, which works when the stable model is the
revision already rolled out (``cnai k8s apply`` applies the stable model first when the
InferenceService does not exist yet). ``promote`` drops ``canaryTrafficPercent`` (all traffic to
the newest), ``rollback`` sets it to 0.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cnai.k8s import autoscalers, pod
from cnai.k8s.model import CANARY, STABLE, Manifest, ServedModel, model_annotations
from cnai.k8s.options import SERVE_PORT
from cnai.k8s.source import ModelSource
from cnai.k8s.targets.base import register

KSERVE_MODEL_DIR = "/mnt/models"
STORAGE_CONTAINER_NAME = "cnai-models"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"


class KServeTarget:
    name: ClassVar[str] = "kserve"
    autoscalers: ClassVar[tuple[str, ...]] = ("knative", "hpa", "keda")
    description: ClassVar[str] = "a KServe InferenceService; needs KServe (Serverless: Knative + Istio)"

    def render(self, served: ServedModel, autoscaler: str) -> list[Manifest]:
        track = CANARY if served.canary is not None else STABLE
        return [self.inference_service(served, track, autoscaler), *self.storage_container(served)]

    def inference_service(self, served: ServedModel, track: str, autoscaler: str) -> Manifest:
        spec = served.spec
        source = served.source(track)
        assert spec.replicas.max is not None
        predictor: dict[str, Any] = {
            "minReplicas": spec.replicas.min if autoscaler == "knative" else max(1, spec.replicas.min),
            "maxReplicas": spec.replicas.max,
        }
        if autoscaler == "knative":
            predictor["scaleMetric"] = "concurrency"
            predictor["scaleTarget"] = max(1, round(spec.autoscaling.target_concurrency))
        elif autoscaler == "hpa":
            predictor["scaleMetric"] = "cpu"
            predictor["scaleTarget"] = autoscalers.CPU_UTILISATION
        else:
            predictor["autoScaling"] = {
                "metrics": [
                    {
                        "type": "External",
                        "external": {
                            "metric": {
                                "backend": "prometheus",
                                "serverAddress": served.options.prometheus_url,
                                "query": autoscalers.in_flight_query(served, f"{served.name}-predictor"),
                            },
                            "target": {
                                "type": "Value",
                                "value": autoscalers.quantity_text(spec.autoscaling.target_concurrency),
                            },
                        },
                    }
                ]
            }
        if track == CANARY and spec.canary is not None:
            predictor["canaryTrafficPercent"] = round(spec.canary.percent)
        predictor["securityContext"] = pod.pod_security()
        predictor["automountServiceAccountToken"] = False
        predictor.update(pod.NO_SERVICE_LINKS)
        tolerations = pod.gpu_tolerations(served)
        if tolerations:
            predictor["tolerations"] = tolerations
        predictor["containers"] = [self.container(served, source)]
        predictor["volumes"] = pod.scratch_volumes(models=False)
        annotations = model_annotations(source)
        if track == CANARY:
            annotations["cnai.io/stable-model"] = served.stable.uri
        if autoscaler != "knative":
            annotations[DEPLOYMENT_MODE] = "RawDeployment"
            annotations[AUTOSCALER_CLASS] = autoscaler
        meta = served.metadata(served.name)
        meta["annotations"] = annotations
        return {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": meta,
            "spec": {"predictor": predictor},
        }

    def container(self, served: ServedModel, source: ModelSource) -> dict[str, Any]:
        env = pod.serve_env(served, allowed_hosts="*")  # KServe's ingress routes by Host already
        if source.is_registry or source.is_remote:
            # A custom predictor container names its model with STORAGE_URI; KServe adds the
            # storage initializer and mounts the result at /mnt/models.
            env.append({"name": "STORAGE_URI", "value": source.uri})
            model_ref = KSERVE_MODEL_DIR
        else:
            model_ref = source.uri
        container: dict[str, Any] = {
            "name": "kserve-container",
            "image": served.options.serving_image,
            "command": ["cnai"],
            "args": pod.serve_args(served, model_ref),
            "env": env,
            "ports": [{"name": "http1", "containerPort": SERVE_PORT, "protocol": "TCP"}],
            **pod.probes(port=SERVE_PORT),  # KServe requires the port; Knative mode accepts it
            "securityContext": pod.container_security(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
        resources = pod.resources(served)
        if resources:
            container["resources"] = resources
        return container

    def storage_container(self, served: ServedModel) -> list[Manifest]:
        """Teaches KServe to fetch ``models:/`` URIs with cnai (cluster-scoped, install once)."""
        if not any(s is not None and s.is_registry for s in (served.stable, served.canary)):
            return []
        return [
            {
                "apiVersion": "serving.kserve.io/v1alpha1",
                "kind": "ClusterStorageContainer",
                "metadata": {"name": STORAGE_CONTAINER_NAME, "labels": {"app.kubernetes.io/part-of": "cnai"}},
                "spec": {
                    "container": {
                        # KServe recognises its init container by this name.
                        "name": "storage-initializer",
                        "image": served.options.serving_image,
                        "command": ["cnai", "models", "download"],  # KServe appends SRC DEST
                        "env": pod.registry_env(served),
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                        # Writable root: KServe mounts only the model volume into this container,
                        # and the mlflow client writes its temporary files under /tmp.
                        "securityContext": pod.container_security() | {"readOnlyRootFilesystem": False},
                    },
                    "supportedUriFormats": [{"prefix": "models:/"}],
                },
            }
        ]


register(KServeTarget.name)(KServeTarget)
