"""Reading resource documents: kubectl-style YAML (several per file, ``---`` separated).

    apiVersion: cnai.io/v1
    kind: Deployment
    metadata:
      name: wine
      labels: {team: ml}
    spec:
      model: models:/wine@champion

Only the envelope is checked here; each kind's spec is validated by its own package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from cnai.errors import InvalidArgument

API_VERSION = "cnai.io/v1"
# DNS-1123 labels: the names end up in URLs, process titles, metric labels and Kubernetes objects.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_./]{0,251}[A-Za-z0-9])?$")
MAX_DOCUMENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Document:
    api_version: str
    kind: str
    name: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)


def check_name(name: object, what: str = "metadata.name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"Invalid {what} {name!r}: use lower-case letters, digits and '-', start and end with a letter "
            "or digit, at most 63 characters"
        )
    return name


def load_documents(text: str) -> list[Document]:
    """Every non-empty document in ``text``; raises InvalidArgument naming the bad document."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidArgument(f"Resource file is larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
    try:
        raw = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"Not valid YAML: {exc}") from None
    if not raw:
        raise InvalidArgument("No resource documents found")
    return [parse_document(doc, index) for index, doc in enumerate(raw, start=1)]


def parse_document(raw: object, index: int = 1) -> Document:
    """One document from its parsed YAML/JSON form."""
    where = f"document {index}"
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: expected a mapping with apiVersion, kind, metadata and spec")
    unknown = set(raw) - {"apiVersion", "kind", "metadata", "spec", "status"}
    if unknown:
        raise InvalidArgument(f"{where}: unknown top-level field(s) {', '.join(sorted(map(str, unknown)))}")
    api_version = raw.get("apiVersion")
    if api_version != API_VERSION:
        raise InvalidArgument(f"{where}: apiVersion must be {API_VERSION!r}, got {api_version!r}")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InvalidArgument(f"{where}: kind is required (Deployment or Monitor)")
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        raise InvalidArgument(f"{where} ({kind}): metadata with a name is required")
    name = check_name(metadata.get("name"))
    labels = metadata.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and _LABEL_KEY.match(k) and isinstance(v, str) and len(v) <= 63 for k, v in labels.items()
    ):
        raise InvalidArgument(f"{where} ({kind} {name}): metadata.labels must map label keys to strings")
    spec = raw.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise InvalidArgument(f"{where} ({kind} {name}): spec must be a mapping")
    return Document(api_version=api_version, kind=kind, name=name, spec=spec, labels=dict(labels))
