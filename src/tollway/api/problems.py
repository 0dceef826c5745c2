"""The one place where errors become RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from tollway.domain.errors import (
    IllegalTransition,
    InvalidInput,
    RateLimited,
    TollwayError,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("tollway.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://tollway.dev/problems/"


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _from_tollway(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TollwayError)
    return from_error(exc, request.url.path)


def from_error(exc: TollwayError, path: str) -> JSONResponse:
    """The problem+json response for a domain error raised while answering ``path``."""
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        extra["errors"] = [
            {"loc": list(e.loc), "field": e.pointer, "message": e.message} for e in exc.errors
        ]
    if isinstance(exc, IllegalTransition):
        extra["current"] = exc.current
        extra["allowed"] = list(exc.allowed)
    if isinstance(exc, RateLimited | Unavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="tollway"'
    if exc.status >= 500:
        log.error("request failed: %s", exc.detail)
    resp = problem(exc.status, exc.title, exc.detail, exc.type_slug, instance=path, **extra)
    resp.headers.update(headers)
    return resp


def _from_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        # FastAPI prefixes "body"/"query"/"path"; keep it, it tells the client where to look.
        loc = list(err.get("loc", ()))
        field = ".".join(str(p) for p in loc[1:]) if len(loc) > 1 else ".".join(map(str, loc))
        errors.append({"loc": loc, "field": field, "message": str(err.get("msg", "invalid"))})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem(
        422,
        "Invalid input",
        summary or "invalid request",
        "invalid-input",
        instance=request.url.path,
        errors=errors,
    )


def _from_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {
        404: "Not found",
        405: "Method not allowed",
        401: "Unauthenticated",
        403: "Forbidden",
        400: "Bad request",
        413: "Payload too large",
    }
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    resp = problem(
        exc.status_code, title, detail, title.lower().replace(" ", "-"), instance=request.url.path
    )
    if exc.headers:
        resp.headers.update(exc.headers)
    return resp


def _unexpected(request: Request, exc: Exception) -> Response:
    # Sync handlers run in a worker thread where sys.exc_info() is empty: pass exc itself.
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        500,
        "Internal error",
        "an unexpected error occurred; it has been logged",
        "internal",
        instance=request.url.path,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(TollwayError, _from_tollway)
    app.add_exception_handler(RequestValidationError, _from_validation)
    app.add_exception_handler(StarletteHTTPException, _from_http)
    app.add_exception_handler(Exception, _unexpected)
