"""The control plane as one ASGI application: the REST API (``tollway.api``) and the
pages (``tollway.portal``), composed here at the root so that neither adapter imports
the other."""

from __future__ import annotations

from fastapi import FastAPI

from tollway.api.app import create_app as create_api
from tollway.context import AppContext
from tollway.portal.routes import router as portal_router


def create_app(ctx: AppContext) -> FastAPI:
    app = create_api(ctx)
    app.include_router(portal_router)
    return app
