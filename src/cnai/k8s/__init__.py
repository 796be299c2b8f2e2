"""cnai on Kubernetes: the ``kind: Deployment`` and ``kind: Monitor`` specs of ``cnai up``,
rendered to the engines a cluster already runs, and applied with the official client.

    options.py      RenderOptions: target, autoscaler, images, namespace, control-plane URLs
    source.py       model URIs pinned at render time (aliases resolved through the registry)
    model.py        ServedModel (a spec with pinned models), names, labels, annotations
    pod.py          the cnai serve container, model download, probes, security context
    targets/        render targets as plugins: kubernetes, kserve, knative
    autoscalers.py  HPA and KEDA ScaledObject for the kubernetes target
    monitor.py      a Monitor as the monitor controller's Deployment + ConfigMap
    render.py       documents -> manifests per document
    output.py       manifests -> YAML files
    rollout.py      is a rollout done? read from Deployment / InferenceService / Knative status
    traffic.py      promote / rollback as patches of the traffic split, per target
    apply.py        server-side apply and rollout watch through the kubernetes client (thin)
"""

from cnai.k8s.options import RenderOptions
from cnai.k8s.render import Rendered, render_documents, render_text
from cnai.k8s.targets import get_target, target_names

__all__ = ["RenderOptions", "Rendered", "get_target", "render_documents", "render_text", "target_names"]
