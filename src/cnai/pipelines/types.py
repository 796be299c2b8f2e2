"""What flows between steps: scalars by value, artifacts (``Dataset``, ``Model``, ``Metrics``, ``File``)
by reference.

A step that produces an artifact returns one whose ``path`` names a file or a directory it wrote
(``Dataset.new("train.csv")`` gives a fresh path in the step's own output directory). The runtime
hashes it, stores it content-addressed in cnai's artifact store and hands the next step an
artifact of the same type whose ``path`` is a local copy (or, on a local store, the stored file
itself: treat inputs as read-only). Nothing but the reference (``uri``, ``digest``) travels in
messages, cache entries and tracking tags.
"""

from __future__ import annotations

import contextvars
import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Self

# The directory the running step writes its outputs into; set by the worker around each call.
_OUTPUT_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("cnai_pipeline_output_dir", default=None)


def output_dir() -> Path:
    """The running step's private output directory (a fresh temporary one outside a pipeline)."""
    current = _OUTPUT_DIR.get()
    if current is None:
        current = Path(tempfile.mkdtemp(prefix="cnai-step-"))
        _OUTPUT_DIR.set(current)
    return current


class Artifact:
    """A file or directory passed by reference. ``uri`` and ``digest`` are set once it is stored."""

    kind: ClassVar[str] = "Artifact"

    def __init__(self, path: str | os.PathLike[str], *, uri: str = "", digest: str = "") -> None:
        self.path = Path(path)
        self.uri = uri
        self.digest = digest

    @classmethod
    def new(cls, name: str) -> Self:
        """An artifact at a fresh path ``name`` inside the running step's output directory."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"artifact name {name!r} must be a plain file or directory name")
        return cls(output_dir() / name)

    def read_text(self) -> str:
        return self.path.read_text()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, digest={self.digest[:19]!r})"


class Dataset(Artifact):
    kind = "Dataset"


class Model(Artifact):
    """A model file or directory (an MLflow model directory registers as a model version)."""

    kind = "Model"


class File(Artifact):
    """Any other file; also the type of a pipeline parameter that names a local file."""

    kind = "File"


class Metrics(Artifact):
    """Named numbers: stored as a JSON artifact and logged as metrics on the step's run."""

    kind = "Metrics"

    def __init__(
        self,
        values: dict[str, float] | None = None,
        *,
        path: str | os.PathLike[str] = "",
        uri: str = "",
        digest: str = "",
    ) -> None:
        self.values: dict[str, float] = {k: float(v) for k, v in (values or {}).items()}
        if not path:
            path = output_dir() / "metrics.json"
            Path(path).write_text(json.dumps(self.values, sort_keys=True))
        elif not self.values and Path(path).is_file():
            self.values = {k: float(v) for k, v in json.loads(Path(path).read_text()).items()}
        super().__init__(path, uri=uri, digest=digest)


ARTIFACT_TYPES: dict[str, type[Artifact]] = {t.kind: t for t in (Artifact, Dataset, Model, File, Metrics)}
SCALAR_TYPES: tuple[type, ...] = (int, float, str, bool, list, dict, type(None))


def is_artifact_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Artifact)
