"""The developer portal at ``/portal``: every page router, composed in one place.

Pages call the same services as the REST API (``tollway.services``); the foundation
(``tollway.web``) gives them the layout, forms, CSRF and error pages. Checkout's return
pages (``checkout``) keep their addresses, which Stripe Checkout sessions carry.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tollway.portal import (
    applications,
    auth,
    billing_pages,
    catalog,
    checkout,
    notifications,
    spend,
    subscribe,
)
from tollway.web import add_not_found_page, page_router, redirect

router = APIRouter(include_in_schema=False)
router.include_router(checkout.router)

_home = page_router()


@_home.get("/portal")
def portal_home(request: Request) -> Response:
    return redirect(request, "/portal/apis")


_rest = page_router("/portal")
add_not_found_page(_rest)

for part in (
    _home,
    auth.router,
    catalog.router,
    applications.router,
    subscribe.router,
    billing_pages.router,
    spend.router,
    notifications.router,
    _rest,
):
    router.include_router(part)
