"""Developer-portal pages (server-rendered). For now: the billing page that Stripe
Checkout and the customer portal return to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from tollway.api.auth import SESSION_COOKIE, authenticate
from tollway.api.deps import get_ctx
from tollway.domain.errors import Unauthenticated
from tollway.store.tables import apis, plans, subscriptions

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=PackageLoader("tollway.portal", "templates"), autoescape=select_autoescape()
)


@router.get("/portal/billing", response_class=HTMLResponse)
def billing_page(request: Request) -> HTMLResponse:
    ctx = get_ctx(request)
    user: Any = None
    rows: list[Any] = []
    raw = request.cookies.get(SESSION_COOKIE)
    with ctx.tx(read_only=True) as conn:
        if raw:
            try:
                user = authenticate(conn, raw, ctx.clock.now())
            except Unauthenticated:
                user = None
        if user is not None:
            q = (
                select(
                    subscriptions, apis.c.name.label("api_name"), plans.c.name.label("plan_name")
                )
                .join(apis, apis.c.id == subscriptions.c.api_id)
                .join(plans, plans.c.id == subscriptions.c.plan_id)
                .where(subscriptions.c.consumer_id == user.user_id)
                .order_by(subscriptions.c.id.desc())
            )
            rows = list(conn.execute(q).mappings())
    html = templates.get_template("billing.html").render(user=user, subscriptions=rows)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
