"""Artifacts in the store, content-addressed: ``pipelines/objects/<sha256>/<name>``.

An artifact's digest is the SHA-256 of its bytes (of a directory: of its files' relative paths and
digests, sorted), so storing the same output twice writes nothing new and a digest names exactly
one content everywhere: in cache entries, lineage tags and the compilers' wiring.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from cnai.artifacts import ArtifactStore, LocalArtifactStore
from cnai.errors import InvalidArgument
from cnai.pipelines.types import ARTIFACT_TYPES, Artifact, Metrics

OBJECTS = "pipelines/objects"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[tuple[str, Path]]:
    out = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            full = Path(dirpath) / name
            out.append((full.relative_to(root).as_posix(), full))
    return sorted(out)


def digest_of(path: Path) -> str:
    """``sha256:<hex>`` of a file, or of a directory's (relative path, file digest) list."""
    if path.is_file():
        return "sha256:" + file_digest(path)
    if path.is_dir():
        h = hashlib.sha256()
        for rel, full in _files(path):
            h.update(f"{rel}\0{file_digest(full)}\n".encode())
        return "sha256:" + h.hexdigest()
    raise InvalidArgument(f"Artifact path {str(path)!r} does not exist: a step must write it before returning it")


def publish(store: ArtifactStore, artifact: Artifact) -> dict[str, Any]:
    """Store ``artifact`` (if its content is new) and return the reference that travels instead."""
    digest = digest_of(artifact.path)
    name = artifact.path.name or "artifact"
    rel = f"{OBJECTS}/{digest.removeprefix('sha256:')}/{name}"
    if not store.exists(rel):
        if artifact.path.is_file():
            with open(artifact.path, "rb") as f:
                store.write(rel, f)
        else:
            for sub, full in _files(artifact.path):
                with open(full, "rb") as f:
                    store.write(f"{rel}/{sub}", f)
    ref: dict[str, Any] = {
        "t": "artifact",
        "kind": artifact.kind,
        "path": rel,
        "uri": f"{store.root_uri.rstrip('/')}/{rel}",
        "digest": digest,
        "is_dir": artifact.path.is_dir(),
    }
    if isinstance(artifact, Metrics):
        ref["metrics"] = artifact.values
    return ref


def materialize(store: ArtifactStore, ref: dict[str, Any], scratch: Path) -> Artifact:
    """The artifact a step receives for ``ref``: the stored file itself on a local store, else a
    copy downloaded once into ``scratch`` (keyed by digest, so repeated inputs are not refetched)."""
    cls = ARTIFACT_TYPES.get(ref["kind"], Artifact)
    rel: str = ref["path"]
    if isinstance(store, LocalArtifactStore):
        local = store.root / rel
    else:
        local = scratch / ref["digest"].removeprefix("sha256:") / Path(rel).name
        if not local.exists():
            _download(store, rel, local, bool(ref.get("is_dir")))
    if cls is Metrics:
        return Metrics(ref.get("metrics"), path=local, uri=ref["uri"], digest=ref["digest"])
    return cls(local, uri=ref["uri"], digest=ref["digest"])


def _download(store: ArtifactStore, rel: str, local: Path, is_dir: bool) -> None:
    if not is_dir:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        chunks, _ = store.open(rel)
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        tmp.replace(local)
        return
    for info in store.list(rel):
        name = info.path.rsplit("/", 1)[-1]
        _download(store, info.path, local / name, info.is_dir)
