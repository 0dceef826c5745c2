"""Page routes: CSRF on every change and every error as an HTML page, in one place.

Build page routers with :func:`page_router`. Its routes (``PageRoute``):

- parse the posted form once (``request.state.form``, read by ``forms.read_form``) and
  refuse a POST/PUT/PATCH/DELETE without this browser's CSRF token (403 page);
- turn whatever the handler raises into a page: ``NotFound`` (also someone else's
  object) -> 404, ``Forbidden`` -> 403, ``Unauthenticated``/:class:`SignInRequired` ->
  a redirect to the sign-in page with a local ``next``, another ``TollwayError`` -> its
  status with its message, a bad path or query parameter -> 400, anything else -> a 500
  page with a reference to the log line and no stack trace.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Forbidden, NotFound, RateLimited, TollwayError, Unauthenticated
from tollway.domain.principal import Principal

from . import csrf
from .htmx import redirect
from .pages import Pages

log = logging.getLogger("tollway.web")

MAX_NEXT = 2000


class SignInRequired(Exception):
    """The page needs a signed-in person (a redirect to the sign-in page: ``sign_in_path``,
    or the application's default)."""

    def __init__(self, sign_in_path: str | None = None) -> None:
        super().__init__("sign in required")
        self.sign_in_path = sign_in_path


def pages_of(request: Request) -> Pages:
    pages = getattr(request.app.state, "pages", None)
    if not isinstance(pages, Pages):
        raise RuntimeError("tollway.web.install(app, ...) was not called for this app")
    return pages


def require_user(request: Request, sign_in_path: str | None = None) -> Principal:
    """The signed-in person, or :class:`SignInRequired` (to ``sign_in_path`` if given)."""
    user = pages_of(request).user(request)
    if user is None:
        raise SignInRequired(sign_in_path)
    return user


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site (``/x?y``), else ``default``.

    Refuses absolute and scheme-relative URLs (``//evil``), backslashes (``/\\evil``
    is ``//evil`` to browsers), control characters and overlong values.
    """
    if not value or len(value) > MAX_NEXT or not value.startswith("/"):
        return default
    if value.startswith("//") or "\\" in value or any(ord(c) < 33 or ord(c) == 127 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def sign_in_url(request: Request, pages: Pages, sign_in_path: str | None = None) -> str:
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:  # come back to the page the form was on, if it was ours
        referer = urlsplit(request.headers.get("referer", ""))
        same = referer.netloc == request.url.netloc
        here = (referer.path + (f"?{referer.query}" if referer.query else "")) if same else ""
    target = safe_next(here, "")
    return (sign_in_path or pages.sign_in_path) + (
        f"?next={quote(target, safe='/')}" if target else ""
    )


def error_page(
    request: Request,
    status: int,
    title: str,
    message: str,
    *,
    reference: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    pages = pages_of(request)
    return pages.render(
        request,
        "errors/error.html",
        {"status": status, "title": title, "message": message, "reference": reference},
        status=status,
        headers=headers,
    )


def page_for_exception(request: Request, exc: Exception) -> Response:
    """The one mapping of exceptions to HTML responses."""
    pages = pages_of(request)
    if isinstance(exc, csrf.CsrfRefused):
        return error_page(
            request,
            403,
            "This form has expired",
            "For your security the form could not be accepted. Go back, reload the page "
            "and send it again.",
        )
    if isinstance(exc, SignInRequired | Unauthenticated):
        path = exc.sign_in_path if isinstance(exc, SignInRequired) else None
        return redirect(request, sign_in_url(request, pages, path))
    if isinstance(exc, NotFound) or (isinstance(exc, HTTPException) and exc.status_code == 404):
        return error_page(
            request,
            404,
            "Page not found",
            "There is nothing here, or it is not yours to see. Check the address, or go "
            "back to the start.",
        )
    if isinstance(exc, Forbidden):
        return error_page(request, 403, "Not allowed", exc.detail)
    if isinstance(exc, RateLimited):
        return error_page(
            request, 429, exc.title, exc.detail, headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, TollwayError) and (exc.status < 500 or exc.status in (502, 503)):
        return error_page(request, exc.status, exc.title, exc.detail)
    if isinstance(exc, RequestValidationError):
        return error_page(
            request, 400, "This address is not valid", "A part of the address is not valid."
        )
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return error_page(request, exc.status_code, "Request refused", str(exc.detail))
    reference = secrets.token_hex(4)
    log.error(
        "page %s %s failed (ref %s)", request.method, request.url.path, reference, exc_info=exc
    )
    return error_page(
        request,
        500,
        "Something went wrong",
        "This is a fault on our side, not yours. Try again in a moment; if it keeps "
        "happening, contact support and quote the reference below.",
        reference=reference,
    )


async def _check_csrf(request: Request, pages: Pages) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        request.state.form = await request.form(
            max_files=20, max_fields=2000, max_part_size=pages.settings.openapi_max_bytes
        )
    submitted = request.headers.get(csrf.CSRF_HEADER)
    form = getattr(request.state, "form", None)
    if submitted is None and form is not None:
        value = form.get(csrf.CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    csrf.verify(pages.csrf_key, request, pages.session_cookie, submitted)


class PageRoute(APIRoute):
    """An APIRoute for HTML pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                if request.method not in csrf.SAFE_METHODS:
                    await _check_csrf(request, pages_of(request))
                return await handler(request)
            except Exception as exc:
                return page_for_exception(request, exc)

        return page_handler


def page_router(prefix: str = "") -> APIRouter:
    """A router whose routes are :class:`PageRoute` and stay out of the OpenAPI document."""
    return APIRouter(prefix=prefix, route_class=PageRoute, include_in_schema=False)


def add_not_found_page(router: APIRouter) -> None:
    """Make every unknown URL under the router's prefix the 404 page (add it last)."""

    def not_found(rest: str) -> Response:
        raise NotFound(rest)

    router.add_api_route("/{rest:path}", not_found, methods=["GET"], name="not_found")
