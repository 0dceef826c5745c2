"""Where Stripe Checkout sends a consumer back after buying a credit pack: settles the
purchase at once (exactly once, shared with the webhook) and says what happened."""

from __future__ import annotations

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from tollway.http.deps import Ctx
from tollway.services import credits
from tollway.web import page_router, pages_of

router = page_router()

OUTCOMES = {
    "credited": ("Thank you!", "Your credit is added; calls go through again at once."),
    "already credited": ("Thank you!", "Your credit is added."),
    "already paid": ("Thank you!", "Your credit is added."),
    "not paid yet": (
        "Payment pending",
        "Stripe has not confirmed the payment yet; the credit is added as soon as it does.",
    ),
    "expired": ("Checkout expired", "Nothing was charged; buy a credit pack again."),
    "already expired": ("Checkout expired", "Nothing was charged; buy a credit pack again."),
}


@router.get("/billing/credits/done")
def credit_checkout_done(
    request: Request, ctx: Ctx, session_id: str = Query(max_length=255)
) -> Response:
    outcome = credits.settle_return(ctx, session_id)
    title, message = OUTCOMES.get(
        outcome, ("Unknown checkout session", "This checkout session is not known here.")
    )
    status = 200 if outcome in OUTCOMES else 404
    return pages_of(request).render(
        request, "portal/credits_return.html", {"title": title, "message": message}, status=status
    )
