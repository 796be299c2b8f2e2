"""A small HTTP client for the CLI's views: the CLI reads through the control plane's API,
exactly as any other client would, so it works against a remote server too."""

from __future__ import annotations

from typing import Any

import httpx

from cnai.cli._common import fail
from cnai.settings import Settings


class ApiClient:
    def __init__(self, settings: Settings) -> None:
        self.base = settings.tracking_uri.rstrip("/")
        headers = {"Authorization": f"Bearer {settings.auth_token}"} if settings.auth_token else {}
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def call(self, method: str, endpoint: str, **payload: Any) -> dict[str, Any]:
        url = f"/api/2.0/mlflow/{endpoint}"
        try:
            if method == "GET":
                response = self.http.get(url, params={k: v for k, v in payload.items() if v is not None})
            else:
                response = self.http.request(method, url, json=payload)
        except httpx.TransportError:
            fail(f"No cnai server answers at {self.base}. Start one with `cnai server`, or set --tracking-uri.")
            raise  # unreachable
        try:
            body: dict[str, Any] = response.json() if response.content else {}
        except ValueError:
            fail(f"{self.base} answered HTTP {response.status_code} with a body that is not JSON: is it a cnai server?")
            raise  # unreachable
        if response.status_code >= 400:
            fail(f"{body.get('error_code', response.status_code)}: {body.get('message', response.text)}")
        return body

    def v1(self, method: str, path: str, body: Any = None) -> Any:
        """Call cnai's own API (``/api/v1/...``); errors there are ``{"error", "code"}``."""
        try:
            response = self.http.request(method, f"/api/v1/{path.lstrip('/')}", json=body)
        except httpx.TransportError:
            fail(f"No cnai server answers at {self.base}. Start one with `cnai up`, or set --tracking-uri.")
            raise  # unreachable
        try:
            data = response.json() if response.content else {}
        except ValueError:
            fail(f"{self.base} answered HTTP {response.status_code} with a body that is not JSON: is it a cnai server?")
            raise  # unreachable
        if response.status_code == 404 and "error" not in data:
            fail(f"{self.base} has no /api/v1/{path}: is it an older cnai server, or not cnai?")
        if response.status_code >= 400:
            fail(str(data.get("error") or response.text))
        return data

    def paged(self, method: str, endpoint: str, key: str, limit: int, **payload: Any) -> list[dict[str, Any]]:
        """Follow next_page_token until ``limit`` items or the end."""
        items: list[dict[str, Any]] = []
        token = None
        while len(items) < limit:
            page = self.call(method, endpoint, page_token=token, **payload)
            items += page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                break
        return items[:limit]
