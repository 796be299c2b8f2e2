"""What a render needs besides the specs: images, namespace, where pods find the control plane."""

from __future__ import annotations

from dataclasses import dataclass, field

from cnai import __version__

IMAGE_REPOSITORY = "ghcr.io/cnai-project/cnai"
SERVING_IMAGE_REPOSITORY = "ghcr.io/cnai-project/cnai-serving"
# The control plane's Service as the Helm chart names it for a release called "cnai", in the
# namespace the model is rendered into; --cluster-tracking-uri points elsewhere.
DEFAULT_CLUSTER_TRACKING_URI = "http://cnai:8080"
DEFAULT_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
DEFAULT_CONFIG_SECRET = "cnai-config"
SERVE_PORT = 8080
# The user the images run as (numeric, so the kubelet can check runAsNonRoot without the image).
RUN_AS_USER = 10001


def default_image() -> str:
    return f"{IMAGE_REPOSITORY}:{__version__}"


def default_serving_image() -> str:
    return f"{SERVING_IMAGE_REPOSITORY}:{__version__}"


@dataclass(frozen=True)
class RenderOptions:
    """``target``/``autoscaler`` pick plugins; the rest fills in what a spec cannot know.

    ``tracking_uri`` is where *this* render resolves aliases (a laptop's port-forward, say);
    ``cluster_tracking_uri`` is where pods reach the control plane to download models.
    """

    target: str = "kubernetes"
    autoscaler: str | None = None  # None: the target's own default
    namespace: str | None = None
    image: str = field(default_factory=default_image)
    serving_image: str = field(default_factory=default_serving_image)
    tracking_uri: str | None = None
    tracking_token: str = ""
    cluster_tracking_uri: str = DEFAULT_CLUSTER_TRACKING_URI
    registry_secret: str | None = None  # Secret (key "token") with a reader token for model downloads
    serve_secret: str | None = None  # Secret (key "token") that clients of the model server must send
    event_bus: str | None = None  # inference log for monitors (kafka://...); None: no inference log
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    config_secret: str = DEFAULT_CONFIG_SECRET  # CNAI_STORE, CNAI_EVENT_BUS, ... for controllers
