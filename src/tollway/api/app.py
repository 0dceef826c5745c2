"""The REST API application: /api/v1, the OAuth2 endpoints, health; errors as problem+json.

The composition root (``tollway.control_plane``) adds the pages (portal) to it."""

from __future__ import annotations

from contextlib import AbstractContextManager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from starlette.types import ASGIApp, Receive, Scope, Send

from tollway import __version__
from tollway.api import problems
from tollway.api.body_guard import BodyGuard
from tollway.api.routes_analytics import router as analytics_router
from tollway.api.routes_apis import router as apis_router
from tollway.api.routes_apps import router as apps_router
from tollway.api.routes_billing_portal import router as billing_portal_router
from tollway.api.routes_budgets import router as budgets_router
from tollway.api.routes_credits import router as credits_router
from tollway.api.routes_invoices import router as invoices_router
from tollway.api.routes_jobs import router as jobs_router
from tollway.api.routes_notifications import router as notifications_router
from tollway.api.routes_oauth import router as oauth_router
from tollway.api.routes_plan_changes import apis_router as default_plans_router
from tollway.api.routes_plan_changes import coupons_router
from tollway.api.routes_plan_changes import router as plan_changes_router
from tollway.api.routes_plan_versions import router as plan_versions_router
from tollway.api.routes_plans import router as plans_router
from tollway.api.routes_stripe import router as stripe_router
from tollway.api.routes_subscriptions import router as subs_router
from tollway.api.routes_tax import router as tax_router
from tollway.api.routes_usage import router as usage_router
from tollway.api.routes_users import router as users_router
from tollway.api.routes_webhooks import MAX_WEBHOOK_BYTES
from tollway.api.routes_webhooks import router as webhooks_router
from tollway.context import AppContext
from tollway.domain.errors import TollwayError
from tollway.http.transaction import TransactionPerRequest


class RefuseNul:
    """400 for a NUL character in the path or query string: no handler can want one, and
    PostgreSQL refuses them in text (a 500 otherwise)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = bytes(scope.get("raw_path") or scope["path"].encode()) + scope.get(
                "query_string", b""
            )
            if b"%00" in raw or b"\x00" in raw or "\x00" in scope["path"]:
                resp = problems.problem(
                    400, "Bad request", "NUL characters are not allowed in URLs", "bad-request"
                )
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="Tollway control plane",
        version=__version__,
        description="Publish, monetize and bill APIs. Errors are RFC 9457 problem+json.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served by tollway.web with the vendored Swagger UI (works offline)
        redoc_url=None,
    )
    app.state.ctx = ctx
    problems.install(app)

    def open_tx(scope: Scope, read_only: bool) -> AbstractContextManager[Connection]:
        return ctx.tx(read_only=read_only)

    def render_error(scope: Scope, exc: TollwayError) -> JSONResponse:
        return problems.from_error(exc, scope["path"])

    # Every request's transaction commits before its response is sent (http.transaction).
    app.add_middleware(TransactionPerRequest, open_tx=open_tx, render_error=render_error)
    # Bodies are bounded (and JSON depth checked) before any transaction is opened.
    app.add_middleware(
        BodyGuard,
        max_bytes=ctx.settings.control_max_body_bytes,
        path_limits={"/webhooks/": MAX_WEBHOOK_BYTES},
    )
    app.add_middleware(RefuseNul)
    for router in (
        users_router,
        apis_router,
        plans_router,
        plan_versions_router,
        apps_router,
        subs_router,
        budgets_router,
        notifications_router,
        credits_router,
        plan_changes_router,
        default_plans_router,
        coupons_router,
        oauth_router,
        stripe_router,
        tax_router,
        jobs_router,
        invoices_router,
        billing_portal_router,
        usage_router,
        analytics_router,
        webhooks_router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app
