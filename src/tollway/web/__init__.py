"""The page foundation: layout, components, forms, CSRF, errors, htmx, assets, charts.

The developer portal (``/portal``) and the publisher console (``/console``) are built on
it; ``docs/web.md`` says how to add a page. :func:`install` plugs it into an
application: it mounts ``/static``, serves the API reference page offline, and (when
``TOLLWAY_STYLE_GUIDE`` is on) the style guide at ``/_style``.

This package must not import ``tollway.api`` (a sibling layer): what it needs from the
control plane (who is signed in) comes in as arguments to :func:`install`.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from tollway.settings import Settings

from .assets import VersionedStatic, static_url
from .forms import FormState, read_form
from .htmx import STOP_POLLING, is_htmx, redirect
from .keys import derive_key, key_material
from .pages import CurrentUser, Pages
from .routing import (
    PageRoute,
    SignInRequired,
    add_not_found_page,
    page_router,
    pages_of,
    require_user,
    safe_next,
)

__all__ = [
    "STOP_POLLING",
    "CurrentUser",
    "FormState",
    "PageRoute",
    "Pages",
    "SignInRequired",
    "WebContext",
    "add_not_found_page",
    "install",
    "is_htmx",
    "page_router",
    "pages_of",
    "read_form",
    "redirect",
    "require_user",
    "safe_next",
    "static_url",
]


class WebContext(Protocol):
    """What the pages need from the running application (``AppContext`` has it)."""

    @property
    def settings(self) -> Settings: ...


def _no_user(_: Request) -> None:
    return None


def install(
    app: FastAPI,
    ctx: WebContext,
    *,
    current_user: CurrentUser = _no_user,
    session_cookie: str = "tollway_session",
    sign_in_path: str = "/portal/sign-in",
    api_docs_path: str | None = "/api/v1/docs",
    strict_templates: bool = False,
) -> Pages:
    """Attach the page foundation to ``app`` and return its :class:`Pages`.

    ``current_user`` resolves the signed-in person from a request (the control plane's
    session cookie); ``api_docs_path`` serves ``app.openapi_url`` with the vendored
    Swagger UI (give ``docs_url=None`` to FastAPI).
    """
    material = key_material(ctx.settings)
    pages = Pages(
        settings=ctx.settings,
        csrf_key=derive_key(material, "csrf"),
        flash_key=derive_key(material, "flash"),
        current_user=current_user,
        session_cookie=session_cookie,
        sign_in_path=sign_in_path,
        strict=strict_templates,
    )
    app.state.pages = pages
    app.mount("/static", VersionedStatic(), name="static")
    router = page_router()
    if api_docs_path is not None and app.openapi_url:
        openapi_url = app.openapi_url
        title = f"{app.title} API reference"

        def api_docs(request: Request) -> Response:
            return pages.render(
                request, "apidocs.html", {"title": title, "openapi_url": openapi_url}
            )

        router.add_api_route(api_docs_path, api_docs, methods=["GET"], name="api_docs")
    app.include_router(router)
    if ctx.settings.style_guide:
        from . import styleguide

        app.include_router(styleguide.router)
    return pages
