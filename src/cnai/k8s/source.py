"""Where a rendered pod gets its model: a pinned registry version, or a path it already has.

Aliases are resolved now, at render time, through the registry's REST API (the call the mlflow
client makes): a rendered manifest must name one exact version so that every replica serves the
same model and a moved alias shows up as a change to re-render and apply, i.e. a rolling update.
The resolved version is stated in an annotation beside the URI the spec gave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from cnai.deploy.specs import REGISTRY_URI
from cnai.errors import InvalidArgument, NotFound, Unavailable

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class ModelSource:
    """``spec_uri`` as written; ``uri`` what the pod fetches or opens; ``version`` when known."""

    spec_uri: str
    uri: str
    version: str | None
    registry_name: str | None = None

    @property
    def is_registry(self) -> bool:
        return self.registry_name is not None

    @property
    def is_remote(self) -> bool:
        """A storage URI (s3://, gs://, pvc://, https://) that KServe's storage initializer fetches."""
        return not self.is_registry and bool(_SCHEME.match(self.uri))

    @property
    def slug(self) -> str:
        """A short, DNS-safe tag for revision names: ``v7`` for registry versions."""
        return f"v{self.version}" if self.version else "local"


def resolve_model(uri: str, tracking_uri: str | None, token: str = "") -> ModelSource:
    """Pin ``uri``; an alias needs ``tracking_uri`` (one clear error without it)."""
    match = REGISTRY_URI.match(uri)
    if match is None:
        return ModelSource(uri, uri.removeprefix("file://"), None)
    name = match.group("name")
    if match.group("version") is not None:
        return ModelSource(uri, uri, match.group("version"), name)
    alias = match.group("alias")
    if not tracking_uri:
        raise InvalidArgument(
            f"{uri} names an alias: pass --tracking-uri (or set CNAI_TRACKING_URI) so it resolves to a version, "
            f"or name the version (models:/{name}/N)"
        )
    version = _alias_version(tracking_uri.rstrip("/"), name, alias, token)
    return ModelSource(uri, f"models:/{name}/{version}", version, name)


def _alias_version(base: str, name: str, alias: str, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            f"{base}/api/2.0/mlflow/registered-models/alias",
            params={"name": name, "alias": alias},
            headers=headers,
            timeout=10.0,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        raise Unavailable(f"Cannot resolve models:/{name}@{alias}: no registry answers at {base} ({exc})") from None
    if response.status_code == 404:
        raise NotFound(f"Registered model {name!r} has no alias {alias!r} at {base}: check `cnai models show {name}`")
    if response.status_code in (401, 403):
        raise Unavailable(
            f"{base} refused to resolve models:/{name}@{alias} (HTTP {response.status_code}): set a token"
        )
    if response.status_code != 200:
        raise Unavailable(f"{base} answered HTTP {response.status_code} resolving models:/{name}@{alias}")
    try:
        return str(response.json()["model_version"]["version"])
    except (ValueError, KeyError, TypeError):
        raise Unavailable(f"{base} did not answer like an MLflow registry for models:/{name}@{alias}") from None
