"""Static files under ``/static/``: our CSS/JS and the vendored libraries.

Pages link every file through :func:`Assets.url`, which appends the first 12 hex digits
of the file's SHA-256 (``/static/css/tollway.css?v=1a2b3c4d5e6f``). A request whose
``v`` matches the file's current hash is cached for a year (``immutable``); any other
request is served with ``no-cache``, so a new release can never be hidden by an old cache.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from os import PathLike
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
LONG_CACHE = "public, max-age=31536000, immutable"


@cache
def file_hash(relative: str) -> str:
    """The version tag of a static file (hashes are computed once per process)."""
    path = (STATIC_DIR / relative).resolve()
    if STATIC_DIR.resolve() not in path.parents or not path.is_file():
        raise FileNotFoundError(f"no static file {relative!r} in {STATIC_DIR}")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(relative: str, prefix: str = "/static") -> str:
    """The versioned URL of a static file, e.g. ``static_url("js/tollway.js")``."""
    return f"{prefix}/{relative}?v={file_hash(relative)}"


class VersionedStatic(StaticFiles):
    """StaticFiles with long cache lifetimes for versioned URLs and ``no-cache`` otherwise."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR, check_dir=True)

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        query = scope.get("query_string", b"").decode("latin-1")
        relative = self.get_path(scope).replace(os.sep, "/")
        version = dict(p.partition("=")[::2] for p in query.split("&") if p).get("v")
        try:
            current = file_hash(relative)
        except FileNotFoundError:
            current = None
        if version is not None and version == current:
            response.headers["Cache-Control"] = LONG_CACHE
        else:
            response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
