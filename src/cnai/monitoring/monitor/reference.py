"""Loading a monitor's reference dataset: a local file, or a dataset artifact of a run.

``modelVersion: models:/iris/1`` means the run that produced that registered version; the
dataset is the run artifact at ``artifactPath`` (default ``reference.parquet``, then
``reference.csv``), e.g. logged with ``mlflow.log_artifact("reference.parquet")``. References
are samples, so they are held in memory once per monitor generation.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa

from cnai.artifacts.base import ArtifactStore
from cnai.errors import InvalidState, NotFound
from cnai.monitoring.io import ArrowSource, TableSource, open_table
from cnai.monitoring.monitor.spec import Reference

ReferenceLoader = Callable[[Reference], TableSource]
DEFAULT_ARTIFACT_PATHS = ("reference.parquet", "reference.csv")


class RunLookup(Protocol):
    def get(self, run_id: str) -> dict[str, Any]: ...


class VersionLookup(Protocol):
    def get_version(self, name: str, version: str) -> dict[str, Any]: ...

    def get_by_alias(self, name: str, alias: str) -> dict[str, Any]: ...


def load_file_reference(reference: Reference) -> TableSource:
    """The default loader: ``file`` references only (no control-plane stores at hand)."""
    if reference.file is None:
        raise InvalidState("Run and modelVersion references need the control plane's artifact store")
    return in_memory(open_table(Path(reference.file).expanduser()))


def in_memory(source: TableSource) -> TableSource:
    if isinstance(source, ArrowSource):
        return source
    names = list(source.schema.names)
    return ArrowSource(pa.table({n: source.column(n) for n in names}, schema=source.schema), name=source.name)


class ArtifactReferenceLoader:
    """Files as the default loader does; run and model-version references from the artifact store."""

    def __init__(self, artifacts: ArtifactStore, runs: RunLookup, registry: VersionLookup) -> None:
        self.artifacts = artifacts
        self.runs = runs
        self.registry = registry

    def __call__(self, reference: Reference) -> TableSource:
        if reference.file is not None:
            return load_file_reference(reference)
        run_id = reference.run or self._version_run(reference)
        base = self._store_path(self.runs.get(run_id)["info"]["artifact_uri"])
        candidates = [reference.artifact_path] if reference.artifact_path else list(DEFAULT_ARTIFACT_PATHS)
        for relative in candidates:
            path = f"{base}/{relative.strip('/')}" if base else relative.strip("/")
            if self.artifacts.exists(path):
                return self._read(path, name=f"runs:/{run_id}/{relative}")
        raise NotFound(f"Run {run_id} has no reference dataset at {' or '.join(candidates)}")

    def _version_run(self, reference: Reference) -> str:
        name, version, alias = reference.model_uri_parts()
        found = self.registry.get_version(name, version) if version else self.registry.get_by_alias(name, alias or "")
        run_id = found.get("run_id")
        if not run_id:
            raise InvalidState(f"{reference.model_version} was not registered from a run: it has no logged reference")
        return str(run_id)

    def _store_path(self, artifact_uri: str) -> str:
        """The run's artifact directory as a path inside the artifact store."""
        if artifact_uri.startswith("mlflow-artifacts:"):
            return urlparse(artifact_uri).path.strip("/")
        root = self.artifacts.root_uri.rstrip("/")
        if artifact_uri.startswith(root + "/"):
            return artifact_uri[len(root) + 1 :].strip("/")
        raise InvalidState(f"Run artifacts at {artifact_uri} are outside this server's artifact store")

    def _read(self, path: str, name: str) -> TableSource:
        chunks, _ = self.artifacts.open(path)
        with tempfile.TemporaryDirectory(prefix="cnai-reference-") as tmp:
            local = Path(tmp) / Path(path).name
            with local.open("wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            source = in_memory(open_table(local))
        return ArrowSource(source.table, name=name) if isinstance(source, ArrowSource) else source
