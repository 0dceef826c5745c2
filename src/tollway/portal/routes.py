"""Developer-portal pages (server-rendered). For now: the billing page that Stripe
Checkout and the customer portal return to, and Checkout's return pages."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from tollway.http.deps import Conn, SessionUser
from tollway.portal import checkout
from tollway.portal.pages import render
from tollway.services import subscriptions

router = APIRouter(include_in_schema=False)
router.include_router(checkout.router)


@router.get("/portal/billing", response_class=HTMLResponse)
def billing_page(user: SessionUser, conn: Conn) -> HTMLResponse:
    rows = [] if user is None else subscriptions.of_consumer(conn, user)
    html = render("billing.html", user=user, subscriptions=rows)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
