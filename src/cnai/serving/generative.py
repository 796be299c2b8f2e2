"""Which models ``cnai serve`` puts on the OpenAI routes rather than in the MLflow model repository.

A model is *generative* when it is, or its directory holds:

- a GGUF file (an LLM, served on ``/v1/chat/completions`` and ``/v1/completions``): a ``.gguf``
  path, or a directory with exactly one ``*.gguf`` file at its top, which is what a GGUF logged
  with the stock client looks like once downloaded (``mlflow.log_artifact(path, "model")``);
- a sentence-transformers model (``/v1/embeddings``): a directory saved by
  ``SentenceTransformer.save`` (``modules.json``), or an MLflow model of the
  ``sentence_transformers`` flavor (``mlflow.sentence_transformers.log_model``), whose files sit
  in its ``data`` folder.

Anything else with an ``MLmodel`` file is an MLflow model for the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnai.errors import InvalidArgument
from cnai.serving.runtimes.embeddings import is_sentence_transformers_dir
from cnai.serving.runtimes.llm import is_gguf

ST_FLAVOR = "sentence_transformers"
ST_DATA = "model.sentence_transformer"  # mlflow.sentence_transformers' default data folder


def generative_path(path: Path) -> Path | None:
    """The GGUF file or sentence-transformers directory that ``path`` is or holds; None when it
    is neither (an MLflow model, or nothing readable)."""
    if path.is_file():
        return path if is_gguf(path) else None
    if not path.is_dir():
        return None
    mlmodel = path / "MLmodel"
    if mlmodel.is_file():
        flavor = _flavors(mlmodel).get(ST_FLAVOR)
        if isinstance(flavor, dict):
            data = path / str(flavor.get("data") or ST_DATA)
            return data if is_sentence_transformers_dir(data) else None
        return None
    if is_sentence_transformers_dir(path):
        return path
    ggufs = [p for p in sorted(path.glob("*.gguf")) if is_gguf(p)]
    if len(ggufs) > 1:
        names = ", ".join(p.name for p in ggufs)
        raise InvalidArgument(f"{path} holds several GGUF files ({names}): log one GGUF per model version")
    return ggufs[0] if ggufs else None


def is_llm(path: Path) -> bool:
    """Whether a path returned by :func:`generative_path` is an LLM (else: an embedding model)."""
    return path.is_file()


def _flavors(mlmodel: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(mlmodel.read_text())
    except (OSError, yaml.YAMLError):
        return {}  # the repository reports an unreadable MLmodel with its own message
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    return flavors if isinstance(flavors, dict) else {}
