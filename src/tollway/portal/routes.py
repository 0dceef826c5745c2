"""Developer-portal pages (server-rendered). For now: the billing page that Stripe
Checkout and the customer portal return to."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from tollway.http.deps import Conn, SessionUser
from tollway.store import subscriptions_repo

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=PackageLoader("tollway.portal", "templates"), autoescape=select_autoescape()
)


@router.get("/portal/billing", response_class=HTMLResponse)
def billing_page(user: SessionUser, conn: Conn) -> HTMLResponse:
    rows = [] if user is None else subscriptions_repo.of_consumer_with_names(conn, user.user_id)
    html = templates.get_template("billing.html").render(user=user, subscriptions=rows)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
