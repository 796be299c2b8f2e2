"""Spec files in, Kubernetes manifests out: the same ``kind: Deployment`` and ``kind: Monitor``
documents that ``cnai apply`` takes, validated by the same code, rendered for one target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnai.deploy.specs import KIND as DEPLOYMENT
from cnai.deploy.specs import parse_deployment_spec
from cnai.errors import InvalidArgument
from cnai.k8s.model import Manifest, ServedModel
from cnai.k8s.monitor import render_monitor
from cnai.k8s.options import RenderOptions
from cnai.k8s.source import resolve_model
from cnai.k8s.targets.base import get_target, pick_autoscaler
from cnai.resources.documents import Document, load_documents

MONITOR = "Monitor"


@dataclass(frozen=True)
class Rendered:
    """The manifests of one spec document, written to ``<kind>-<name>.yaml``."""

    kind: str
    name: str
    manifests: list[Manifest]

    @property
    def filename(self) -> str:
        return f"{self.kind.lower()}-{self.name}.yaml"


def render_text(text: str, options: RenderOptions) -> list[Rendered]:
    return render_documents(load_documents(text), options)


def render_documents(docs: list[Document], options: RenderOptions) -> list[Rendered]:
    """Every document rendered, or InvalidArgument naming the first bad one (nothing partial)."""
    target = get_target(options.target)
    autoscaler = pick_autoscaler(target, options.autoscaler)
    seen: set[tuple[str, str]] = set()
    out: list[Rendered] = []
    for doc in docs:
        if (doc.kind, doc.name) in seen:
            raise InvalidArgument(f"{doc.kind} {doc.name} is given twice")
        seen.add((doc.kind, doc.name))
        if doc.kind == DEPLOYMENT:
            served = served_model(doc, options)
            out.append(Rendered(doc.kind, doc.name, target.render(served, autoscaler)))
        elif doc.kind == MONITOR:
            out.append(Rendered(doc.kind, doc.name, render_monitor(doc, _monitor_spec(doc.spec), options)))
        else:
            raise InvalidArgument(f"{doc.kind} {doc.name}: cannot render kind {doc.kind!r} (Deployment or Monitor)")
    return out


def served_model(doc: Document, options: RenderOptions) -> ServedModel:
    spec = parse_deployment_spec(doc.spec)
    stable = resolve_model(spec.model, options.tracking_uri, options.tracking_token)
    canary = None
    if spec.canary is not None:
        canary = resolve_model(spec.canary.model, options.tracking_uri, options.tracking_token)
    return ServedModel(doc.name, dict(doc.labels), spec, stable, canary, options)


def _monitor_spec(spec: dict[str, Any]) -> dict[str, Any]:
    try:  # the [monitoring] extra: the spec module imports the drift tests it names
        from cnai.monitoring.monitor.spec import validate_monitor_spec
    except ImportError as exc:
        raise InvalidArgument(f"Rendering a Monitor needs pip install 'cnai[monitoring]' ({exc})") from None
    return validate_monitor_spec(spec)
