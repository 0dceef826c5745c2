"""The control plane as one ASGI application: the REST API (``tollway.api``), the page
foundation (``tollway.web``: static assets, the offline API reference, sessions for
pages) and the pages (``tollway.portal``, ``tollway.console``), composed here at the root
so that no adapter imports another."""

from __future__ import annotations

from fastapi import FastAPI, Request

from tollway import web
from tollway.api.app import create_app as create_api
from tollway.console.routes import router as console_router
from tollway.context import AppContext
from tollway.domain.errors import Unauthenticated
from tollway.domain.principal import Principal
from tollway.http.deps import SESSION_COOKIE
from tollway.portal.credits_return import router as credits_return_router
from tollway.portal.routes import router as portal_router
from tollway.services import sessions


def create_app(ctx: AppContext) -> FastAPI:
    app = create_api(ctx)

    def current_user(request: Request) -> Principal | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            return sessions.authenticate_in(ctx, raw)
        except Unauthenticated:
            return None

    web.install(app, ctx, current_user=current_user, session_cookie=SESSION_COOKIE)
    app.include_router(portal_router)
    app.include_router(console_router)
    app.include_router(credits_return_router)
    return app
