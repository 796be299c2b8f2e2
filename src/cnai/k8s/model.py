"""The inputs of a render, and the names and labels every target shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnai.deploy.specs import DeploymentSpec
from cnai.k8s.options import RenderOptions
from cnai.k8s.source import ModelSource

Manifest = dict[str, Any]

STABLE, CANARY = "stable", "canary"
PART_OF = "cnai"
# Annotations that say where a manifest came from (kubectl describe shows them).
ANN_MODEL = "cnai.io/model"
ANN_VERSION = "cnai.io/model-version"
ANN_RESOLVED_FROM = "cnai.io/resolved-from"
ANN_NOTE = "cnai.io/note"


@dataclass(frozen=True)
class ServedModel:
    """A Deployment spec with its models pinned, ready for any target."""

    name: str
    labels: dict[str, str]
    spec: DeploymentSpec
    stable: ModelSource
    canary: ModelSource | None
    options: RenderOptions

    @property
    def served_name(self) -> str:
        return self.spec.served_name or self.name

    def source(self, track: str) -> ModelSource:
        if track == CANARY:
            assert self.canary is not None
            return self.canary
        return self.stable

    def metadata(self, name: str, *, track: str | None = None, component: str = "model-server") -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if self.options.namespace:
            meta["namespace"] = self.options.namespace
        meta["labels"] = self.selector(track) | self.common_labels(component)
        return meta

    def common_labels(self, component: str = "model-server") -> dict[str, str]:
        return {
            **self.labels,
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "cnai",
        }

    def selector(self, track: str | None = None) -> dict[str, str]:
        out = {"cnai.io/deployment": self.name}
        if track is not None:
            out["cnai.io/track"] = track
        return out


def model_annotations(source: ModelSource) -> dict[str, str]:
    out = {ANN_MODEL: source.uri}
    if source.version is not None:
        out[ANN_VERSION] = source.version
    if source.uri != source.spec_uri:
        out[ANN_RESOLVED_FROM] = source.spec_uri
    return out
