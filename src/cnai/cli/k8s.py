"""`cnai k8s`: the specs of `cnai up`, rendered to Kubernetes, KServe or Knative, and applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cnai.cli._common import build_settings, console, fail, guarded

app = typer.Typer(
    help="Run on Kubernetes: render the same Deployment and Monitor specs as `cnai up` to manifests, and apply them.",
    no_args_is_help=True,
)

TARGET_HELP = (
    "kubernetes: Deployment + Service + HPA/KEDA + PDB + ServiceMonitor, no extra components; "
    "kserve: an InferenceService (needs KServe); knative: a Knative Service (needs Knative Serving; scale to zero)."
)
AUTOSCALER_HELP = (
    "kubernetes: hpa (default; the in-flight metric through prometheus-adapter, CPU as fallback) or keda "
    "(Prometheus query, scale to zero); kserve: knative (default), hpa or keda; knative: knative (default) or hpa."
)


def _options(**given: Any) -> Any:
    from cnai.k8s.options import RenderOptions

    tracking_uri = given.pop("tracking_uri")
    if tracking_uri is None:  # an explicit environment setting counts; the CLI's localhost default does not
        settings = build_settings()
        tracking_uri = settings.tracking_uri if _tracking_uri_from_env() else None
    else:
        settings = build_settings(tracking_uri=tracking_uri)
    values = {k: v for k, v in given.items() if v is not None}
    return RenderOptions(tracking_uri=tracking_uri, tracking_token=settings.auth_token, **values)


def _tracking_uri_from_env() -> bool:
    import os

    return any(os.environ.get(v) for v in ("CNAI_TRACKING_URI", "MLFLOW_TRACKING_URI"))


def _read(files: list[Path]) -> list[Any]:
    from cnai.resources.documents import load_documents

    docs = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            fail(f"Cannot read {path}: {exc.strerror or exc}")
        docs += guarded(lambda: load_documents(text))  # noqa: B023 - called at once
    return docs


FILES = typer.Option(..., "--file", "-f", help="Spec file(s): kind Deployment and Monitor, as for `cnai apply`.")
TARGET = typer.Option("kubernetes", help=TARGET_HELP)
AUTOSCALER = typer.Option(None, help=AUTOSCALER_HELP)
NAMESPACE = typer.Option(None, help="Namespace to put in the manifests. [default: none, kubectl's current one]")
TRACKING_URI = typer.Option(
    None, help="Registry that resolves models:/name@alias at render time. [env: CNAI_TRACKING_URI, MLFLOW_TRACKING_URI]"
)
IMAGE = typer.Option(None, help="Image of the controllers. [default: ghcr.io/cnai-project/cnai:VERSION]")
SERVING_IMAGE = typer.Option(
    None, help="Image of the model servers. [default: ghcr.io/cnai-project/cnai-serving:VERSION]"
)
CLUSTER_TRACKING_URI = typer.Option(
    None, help="Control plane URL as pods see it, for model downloads. [default: http://cnai:8080]"
)
REGISTRY_SECRET = typer.Option(None, help="Secret whose key 'token' is a reader token for model downloads.")
SERVE_SECRET = typer.Option(
    None,
    help="Secret whose key 'token' clients must send to the model server. [default: none; the Service is open in-cluster]",
)
EVENT_BUS = typer.Option(
    None,
    help="Event bus for the inference log that monitors read, e.g. kafka://kafka:9092. [default: no inference log]",
)
PROMETHEUS_URL = typer.Option(
    None, help="Prometheus that KEDA queries. [default: http://prometheus-operated.monitoring.svc:9090]"
)
CONFIG_SECRET = typer.Option(
    None, help="Secret with CNAI_STORE, CNAI_EVENT_BUS, CNAI_ARTIFACTS for monitor controllers. [default: cnai-config]"
)


@app.command("render")
def render(
    files: list[Path] = FILES,
    target: str = TARGET,
    autoscaler: str = AUTOSCALER,
    out: Path = typer.Option(Path("k8s"), "--out", "-o", help="Directory to write the manifests to."),
    namespace: str = NAMESPACE,
    tracking_uri: str = TRACKING_URI,
    image: str = IMAGE,
    serving_image: str = SERVING_IMAGE,
    cluster_tracking_uri: str = CLUSTER_TRACKING_URI,
    registry_secret: str = REGISTRY_SECRET,
    serve_secret: str = SERVE_SECRET,
    event_bus: str = EVENT_BUS,
    prometheus_url: str = PROMETHEUS_URL,
    config_secret: str = CONFIG_SECRET,
) -> None:
    """Write Kubernetes manifests for the specs: one YAML file per Deployment or Monitor in --out.

    Needs no cluster and no control plane when models are paths or models:/name/version; an alias (models:/name@alias) is resolved through --tracking-uri and the version is written down (annotation cnai.io/model-version), so re-render to follow a moved alias. Validate with kubeconform or `kubectl apply --dry-run=server`, apply with kubectl or `cnai k8s apply`.
    """
    from cnai.k8s.output import write_all
    from cnai.k8s.render import render_documents

    options = _options(
        target=target,
        autoscaler=autoscaler,
        namespace=namespace,
        tracking_uri=tracking_uri,
        image=image,
        serving_image=serving_image,
        cluster_tracking_uri=cluster_tracking_uri,
        registry_secret=registry_secret,
        serve_secret=serve_secret,
        event_bus=event_bus,
        prometheus_url=prometheus_url,
        config_secret=config_secret,
    )
    rendered = guarded(lambda: render_documents(_read(files), options))
    try:
        written = write_all(rendered, out)
    except OSError as exc:
        fail(f"Cannot write to {out}: {exc.strerror or exc}")
    for item, path in zip(rendered, written, strict=True):
        kinds = ", ".join(f"{m['kind']}/{m['metadata']['name']}" for m in item.manifests)
        console.print(f"{path}  [dim]{kinds}[/]", soft_wrap=True)


@app.command("apply")
def apply(
    files: list[Path] = FILES,
    target: str = TARGET,
    autoscaler: str = AUTOSCALER,
    namespace: str = NAMESPACE,
    context: str = typer.Option(None, help="kubeconfig context. [default: the current one]"),
    tracking_uri: str = TRACKING_URI,
    image: str = IMAGE,
    serving_image: str = SERVING_IMAGE,
    cluster_tracking_uri: str = CLUSTER_TRACKING_URI,
    registry_secret: str = REGISTRY_SECRET,
    serve_secret: str = SERVE_SECRET,
    event_bus: str = EVENT_BUS,
    prometheus_url: str = PROMETHEUS_URL,
    config_secret: str = CONFIG_SECRET,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until every rollout is done."),
    timeout: float = typer.Option(600, help="Seconds to wait for rollouts."),
) -> None:
    """Render the specs and apply them to the cluster (server-side apply), then follow the rollouts.

    With KServe or Knative and a canary in the spec, a first apply rolls out the stable model before the canary, so the traffic split has two revisions. Needs pip install 'cnai[k8s]' and a kubeconfig (or a pod's service account).
    """
    from dataclasses import replace

    from cnai.k8s.apply import Cluster, apply_stages, ref_of, wait_for_rollout
    from cnai.k8s.render import render_documents

    options = _options(
        target=target,
        autoscaler=autoscaler,
        namespace=namespace,
        tracking_uri=tracking_uri,
        image=image,
        serving_image=serving_image,
        cluster_tracking_uri=cluster_tracking_uri,
        registry_secret=registry_secret,
        serve_secret=serve_secret,
        event_bus=event_bus,
        prometheus_url=prometheus_url,
        config_secret=config_secret,
    )
    docs = _read(files)
    rendered = guarded(lambda: render_documents(docs, options))
    cluster = guarded(lambda: Cluster.connect(context, namespace))
    failed = False
    for doc, item in zip(docs, rendered, strict=True):
        without = None
        if target in ("kserve", "knative") and doc.kind == "Deployment" and doc.spec.get("canary"):
            plain = replace(doc, spec={k: v for k, v in doc.spec.items() if k != "canary"})
            without = guarded(lambda: render_documents([plain], options))[0].manifests  # noqa: B023
        exists = cluster.get(ref_of(item.manifests[0])) is not None if without is not None else True
        for stage in apply_stages(item.manifests, without, exists):
            for manifest in stage:
                guarded(lambda: cluster.apply(manifest))  # noqa: B023
                console.print(f"{manifest['kind'].lower()}/{manifest['metadata']['name']} applied")
            if wait or len(stage) != len(item.manifests):
                for status in wait_for_rollout(
                    cluster, stage, timeout_s=timeout, report=lambda s: console.print(f"  {s.message}")
                ):
                    failed = failed or status.state == "failed"
            if failed:
                fail(f"{item.kind} {item.name}: rollout failed; see the lines above and kubectl describe")


@app.command("promote")
def promote(
    name: str = typer.Argument(..., help="The Deployment spec's name."),
    target: str = TARGET,
    namespace: str = NAMESPACE,
    context: str = typer.Option(None, help="kubeconfig context. [default: the current one]"),
) -> None:
    """Send all traffic to the canary: the stable model becomes the canary's."""
    _traffic(name, target, namespace, context, promote=True)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="The Deployment spec's name."),
    target: str = TARGET,
    namespace: str = NAMESPACE,
    context: str = typer.Option(None, help="kubeconfig context. [default: the current one]"),
) -> None:
    """Send all traffic back to the stable model; the canary gets none."""
    _traffic(name, target, namespace, context, promote=False)


def _traffic(name: str, target: str, namespace: str | None, context: str | None, *, promote: bool) -> None:
    from cnai.k8s import traffic
    from cnai.k8s.apply import Cluster, apply_change

    cluster = guarded(lambda: Cluster.connect(context, namespace))

    def change() -> traffic.Change:
        if target == "kubernetes":
            canary = cluster.get(("apps/v1", "Deployment", f"{name}-canary"))
            if promote:
                return traffic.promote_deployments(cluster.require(("apps/v1", "Deployment", name)), canary)
            return traffic.rollback_deployments(canary, name)
        if target == "kserve":
            isvc = cluster.require(("serving.kserve.io/v1beta1", "InferenceService", name))
            return traffic.promote_inference_service(isvc) if promote else traffic.rollback_inference_service(isvc)
        if target == "knative":
            ksvc = cluster.require(("serving.knative.dev/v1", "Service", name))
            return traffic.promote_knative(ksvc) if promote else traffic.rollback_knative(ksvc)
        fail(f"Unknown target {target!r}: use kubernetes, kserve or knative")
        raise AssertionError  # unreachable

    planned = guarded(change)
    guarded(lambda: apply_change(cluster, planned))
    console.print(planned.summary)
