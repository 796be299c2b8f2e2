"""Model URIs to the exact version replicas should serve.

``models:/wine@champion`` is resolved through the registry's REST API (``GET
/api/2.0/mlflow/registered-models/alias``, the call the mlflow client makes) and replicas are
started with the *pinned* URI ``models:/wine/7``. Pinning is what makes alias-following safe:
every replica of one revision serves the same version even when one restarts after the alias
moved, and the move itself shows up as a new revision, i.e. a rolling update.

Answers are cached for ``refresh_s`` (the alias poll interval). When the registry cannot be
reached the last answer stands, so a control-plane hiccup never rolls anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from cnai.deploy.specs import REGISTRY_URI
from cnai.errors import NotFound, Unavailable

LOCAL_VERSION = "local"


class VersionResolver:
    def __init__(
        self,
        tracking_uri: str,
        *,
        token: str = "",
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``token``: the control plane's bearer token, when it requires one."""
        self.tracking_uri = tracking_uri.rstrip("/")
        self.token = token
        self.refresh_s = refresh_s
        self._clock = clock
        self._cache: dict[str, tuple[float, tuple[str, str]]] = {}
        self._http: httpx.AsyncClient | None = None

    async def resolve(self, uri: str) -> tuple[str, str]:
        """``(pinned URI, version)``; raises NotFound (no such alias) or Unavailable (no registry)."""
        match = REGISTRY_URI.match(uri)
        if match is None:
            return uri, LOCAL_VERSION
        if match.group("version") is not None:
            return uri, match.group("version")
        now = self._clock()
        cached = self._cache.get(uri)
        if cached is not None and now - cached[0] < self.refresh_s:
            return cached[1]
        try:
            version = await self._alias_version(match.group("name"), match.group("alias"))
        except Unavailable:
            if cached is not None:
                return cached[1]
            raise
        answer = (f"models:/{match.group('name')}/{version}", version)
        self._cache[uri] = (now, answer)
        return answer

    async def _alias_version(self, name: str, alias: str) -> str:
        if not self.tracking_uri:
            raise Unavailable(f"models:/{name}@{alias} needs a registry, and no tracking URI is set")
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = httpx.AsyncClient(base_url=self.tracking_uri, headers=headers, timeout=5.0, trust_env=False)
        try:
            response = await self._http.get(
                "/api/2.0/mlflow/registered-models/alias", params={"name": name, "alias": alias}
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"Registry at {self.tracking_uri} unreachable: {exc}") from None
        if response.status_code == 404:
            raise NotFound(f"Registered model {name!r} has no alias {alias!r}")
        if response.status_code != 200:
            raise Unavailable(f"Registry answered HTTP {response.status_code} for models:/{name}@{alias}")
        return str(response.json()["model_version"]["version"])

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
