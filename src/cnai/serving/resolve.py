"""MODEL arguments → (served name, version, local directory).

``MODEL`` is a local MLflow model directory, ``models:/name/version``, ``models:/name@alias``, or
any of these as ``NAME=URI`` to choose the served name. Registry URIs are resolved against the
control plane (an MLflow-compatible server) with the stock mlflow client, which downloads the
version's files; an alias is resolved to its version number first, so the version served is known.

A version's files are downloaded once into ``CNAI_HOME/serving-cache/NAME/VERSION`` (into a
temporary folder renamed when complete, so an interrupted download is never taken for a model).
What the files are decides the runtime: an MLflow model (``MLmodel``) goes to the repository, a
GGUF file or a sentence-transformers model to the OpenAI routes (:mod:`cnai.serving.generative`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cnai.errors import InvalidArgument, NotFound, Unavailable
from cnai.serving.generative import generative_path

_REGISTRY = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
LOCAL_VERSION = "1"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    uri: str


def parse_model_arg(arg: str) -> ModelSpec:
    name, sep, uri = arg.partition("=")
    if sep and _NAME.match(name) and not name.startswith("models:"):
        return ModelSpec(name, uri)
    uri = arg
    match = _REGISTRY.match(uri)
    if match:
        return ModelSpec(match.group("name"), uri)
    if uri.startswith("models:"):
        raise InvalidArgument(f"Invalid registry URI {uri!r}: use models:/name/version or models:/name@alias")
    stem = Path(uri.removeprefix("file://")).resolve().name
    return ModelSpec(re.sub(r"[^A-Za-z0-9_.\-]", "-", stem) or "model", uri)


def fetch_model(uri: str, tracking_uri: str, cache_dir: Path) -> tuple[Path, str]:
    """The local model directory and version for ``uri``; blocking (downloads)."""
    match = _REGISTRY.match(uri)
    if not match:
        path = Path(uri.removeprefix("file://")).expanduser()
        if path.suffix.lower() == ".gguf":  # not a readable GGUF file, or it would be served on /v1
            what = "is not a GGUF file (no GGUF magic)" if path.is_file() else "does not exist"
            raise NotFound(f"{path} {what}: give the path of a GGUF model file")
        if not (path / "MLmodel").is_file():
            raise NotFound(
                f"No MLflow model at {path} (no MLmodel file): "
                "give a directory saved by mlflow's save_model, or models:/NAME/VERSION"
            )
        return path, LOCAL_VERSION
    name, version = _pinned(match, uri, tracking_uri)
    dest = cache_dir / name / version
    if not dest.is_dir():
        _download_once(uri, tracking_uri, name, version, dest)
    return _model_root(dest), version


def is_registry_uri(uri: str) -> bool:
    return _REGISTRY.match(uri) is not None


def fetch_generative(spec: ModelSpec, tracking_uri: str, cache_dir: Path) -> tuple[ModelSpec, str] | None:
    """For a registry URI whose version is a GGUF or sentence-transformers model: the spec with
    the local path of its files, and the version; None for an MLflow model. Blocking (downloads)."""
    path, version = fetch_model(spec.uri, tracking_uri, cache_dir)
    found = generative_path(path)
    return (ModelSpec(spec.name, str(found)), version) if found is not None else None


def download_model(uri: str, tracking_uri: str, dest: Path) -> tuple[Path, str]:
    """Download registry model ``uri`` so that ``dest/MLmodel`` exists (an init container's or
    KServe storage initializer's job); the version downloaded. ``dest`` may exist but must hold
    no other model."""
    match = _REGISTRY.match(uri)
    if not match:
        raise InvalidArgument(f"{uri!r} is not a registry URI: use models:/name/version or models:/name@alias")
    name, version = _pinned(match, uri, tracking_uri)
    if (dest / "MLmodel").is_file():
        raise InvalidArgument(f"{dest} already holds a model (MLmodel): give an empty or new directory")
    _download(uri, tracking_uri, name, version, dest)
    root = _model_root(dest)
    if root != dest:  # the files landed one folder down: move them up, so DEST is the model
        for child in list(root.iterdir()):
            child.rename(dest / child.name)
        root.rmdir()
    return dest, version


def _pinned(match: re.Match[str], uri: str, tracking_uri: str) -> tuple[str, str]:
    """``(name, version)``, an alias resolved through the registry."""
    if not tracking_uri:
        raise InvalidArgument(f"{uri} needs a control plane: set CNAI_TRACKING_URI or MLFLOW_TRACKING_URI")
    _check_reachable(tracking_uri)
    name, version, alias = match.group("name"), match.group("version"), match.group("alias")
    if version is not None:
        return name, str(version)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with _registry_errors(uri, tracking_uri, name, f"alias {alias!r}"):
        return name, str(client.get_model_version_by_alias(name, alias).version)


def _download_once(uri: str, tracking_uri: str, name: str, version: str, dest: Path) -> None:
    """Download into a private folder, then rename it to ``dest``: several workers may fetch the
    same version at once, and a download cut short must not be served later."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _download(uri, tracking_uri, name, version, partial)
        try:
            partial.rename(dest)
        except OSError:
            if not dest.is_dir():  # not another worker's complete copy: a real error
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _download(uri: str, tracking_uri: str, name: str, version: str, dest: Path) -> None:
    import mlflow.artifacts
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with _registry_errors(uri, tracking_uri, name, f"version {version}"):
        dest.mkdir(parents=True, exist_ok=True)
        source = client.get_model_version_download_uri(name, version)
        mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dest), tracking_uri=tracking_uri)


@contextlib.contextmanager
def _registry_errors(uri: str, tracking_uri: str, name: str, what: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(
                f"Model {name!r} {what} not found in the registry at {tracking_uri}: check `cnai models list`"
            ) from None
        message = " ".join(str(exc.message).split())
        raise Unavailable(f"Could not fetch {uri} from {tracking_uri}: {message}") from None


def check_model(spec: ModelSpec, tracking_uri: str, cache_dir: Path) -> None:
    """Fail now, with one line, if ``spec`` cannot be fetched or is not an MLflow model (what
    a server with several worker processes checks before starting them)."""
    import yaml

    from cnai.serving.openai_app import is_generative
    from cnai.serving.runtimes import read_model_dir

    if is_generative(spec.uri):
        return  # a GGUF file or a sentence-transformers directory: each worker loads it

    path, _ = fetch_model(spec.uri, tracking_uri, cache_dir)
    if generative_path(path) is not None:
        return  # a registry version holding a GGUF or sentence-transformers model: the same
    try:
        read_model_dir(path)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{path / 'MLmodel'} is not valid YAML: {' '.join(str(exc).split())}") from None


def _check_reachable(tracking_uri: str) -> None:
    """One quick request first: the mlflow client retries a refused connection for a minute or
    more, printing a warning per try, before it gives up with a long message."""
    import httpx

    try:
        httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=5)
    except httpx.TransportError as exc:
        raise Unavailable(
            f"No control plane answers at {tracking_uri} ({exc or type(exc).__name__}): "
            "start it with `cnai up`, or point CNAI_TRACKING_URI (or MLFLOW_TRACKING_URI) at it"
        ) from None


def _model_root(dest: Path) -> Path:
    """download_artifacts puts the files in ``dest`` or in one folder below it."""
    if _is_model(dest):
        return dest
    for child in sorted(dest.iterdir()):
        if child.is_dir() and _is_model(child):
            return child
    raise NotFound(f"Downloaded model in {dest} has no MLmodel file, GGUF file or sentence-transformers model")


def _is_model(path: Path) -> bool:
    return (path / "MLmodel").is_file() or generative_path(path) is not None
