"""Usage and billing: every subscription's usage and cost this period, the totals, and
the consumer's invoices (Stripe's, with links to the hosted invoice and the PDF)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import TollwayError
from tollway.http.deps import Conn, Ctx
from tollway.services import billing, subscriptions, usage
from tollway.web import page_router, pages_of, require_user

router = page_router("/portal")
log = logging.getLogger(__name__)


@router.get("/billing")
def billing_page(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = require_user(request)
    overview = usage.overview(ctx, conn, user)
    ended = [s for s in subscriptions.of_consumer(conn, user) if s["state"] not in usage.LIVE]
    invoices: list[dict[str, Any]] = []
    invoices_error = None
    try:
        invoices = billing.invoices(ctx, conn, user)
    except TollwayError as exc:
        log.warning("invoices not listed: %s", exc.detail)
        invoices_error = "Your invoices cannot be listed right now; try again in a moment."
    context = {
        "overview": overview,
        "ended": ended,
        "invoices": invoices,
        "invoices_error": invoices_error,
    }
    return pages_of(request).render(request, "portal/billing.html", context)
