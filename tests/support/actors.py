"""A user of the control plane with an HTTP client authenticated as that user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response


@dataclass
class Actor:
    """A user and an HTTP client authenticated as that user."""

    id: str
    email: str
    role: str
    token: str
    http: TestClient

    def get(self, url: str, **kw: Any) -> Response:
        response: Response = self.http.get(url, headers=self._h(kw), **kw)
        return response

    def post(self, url: str, **kw: Any) -> Response:
        response: Response = self.http.post(url, headers=self._h(kw), **kw)
        return response

    def put(self, url: str, **kw: Any) -> Response:
        response: Response = self.http.put(url, headers=self._h(kw), **kw)
        return response

    def patch(self, url: str, **kw: Any) -> Response:
        response: Response = self.http.patch(url, headers=self._h(kw), **kw)
        return response

    def delete(self, url: str, **kw: Any) -> Response:
        response: Response = self.http.delete(url, headers=self._h(kw), **kw)
        return response

    def _h(self, kw: dict[str, Any]) -> dict[str, str]:
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers
