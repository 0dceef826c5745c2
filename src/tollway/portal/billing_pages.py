"""Usage and billing: the consumer's subscriptions, usage, cost and invoices."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tollway.http.deps import Conn
from tollway.services import subscriptions
from tollway.web import page_router, pages_of, require_user

router = page_router("/portal")


@router.get("/billing")
def billing_page(request: Request, conn: Conn) -> Response:
    user = require_user(request)
    rows = subscriptions.of_consumer(conn, user)
    return pages_of(request).render(request, "portal/billing.html", {"subscriptions": rows})
