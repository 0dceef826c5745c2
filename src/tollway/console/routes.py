"""The console's router: every page under ``/console``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tollway.http.deps import Conn, Ctx
from tollway.services import stripe_connection
from tollway.web import add_not_found_page, page_router, pages_of

from . import analytics, apis, auth, meters, monetization, operations, plans, subscribers
from .access import publisher

router = page_router()
router.include_router(auth.router)
router.include_router(monetization.router)
router.include_router(apis.router)
router.include_router(plans.router)
router.include_router(subscribers.router)
router.include_router(operations.router)
router.include_router(meters.router)
router.include_router(analytics.router)

home = page_router("/console")


@home.get("")
def overview(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = publisher(request)
    stripe = stripe_connection.status(ctx, conn, user)
    return pages_of(request).render(request, "console/overview.html", {"stripe": stripe})


add_not_found_page(home)
router.include_router(home)
