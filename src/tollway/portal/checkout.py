"""Where Stripe Checkout sends the consumer back: the success and the cancel pages."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from tollway.domain.errors import NotFound
from tollway.domain.subscriptions import SubState
from tollway.http.deps import Ctx
from tollway.portal.pages import render
from tollway.services import billing

router = APIRouter(include_in_schema=False)

#: What the success page says for each state the subscription can be in afterwards.
OUTCOMES: dict[SubState, tuple[str, str]] = {
    SubState.ACTIVE: ("Thank you!", "Your subscription is active."),
    SubState.BLOCKED: ("Thank you!", "Your subscription is paid but currently blocked."),
    SubState.ON_HOLD: (
        "Payment pending",
        "Stripe has not confirmed the payment yet; your subscription becomes active as "
        "soon as it does.",
    ),
    # Cancelled while the payment was on its way: the Stripe subscription the Checkout
    # created has been cancelled as well (BillingService.activate_from_checkout).
    SubState.CANCELLED: (
        "Subscription cancelled",
        "This subscription was cancelled before the payment was processed, so it was not "
        "activated; its Stripe subscription has been cancelled too and will not renew.",
    ),
}
OUTCOMES[SubState.EXPIRED] = OUTCOMES[SubState.CANCELLED]


def _page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    html = render("checkout.html", title=title, message=message)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/billing/checkout/success", response_class=HTMLResponse)
def checkout_success(ctx: Ctx, session_id: str = Query(max_length=255)) -> HTMLResponse:
    """Stripe Checkout's success redirect: activates the subscription if the webhook has
    not yet (exactly once either way), committed before this page is sent."""
    try:
        state = billing.complete_checkout(ctx, session_id)
    except NotFound:
        return _page("Unknown checkout session", "This checkout session is not known here.", 404)
    return _page(*OUTCOMES[state])


@router.get("/billing/checkout/cancelled", response_class=HTMLResponse)
def checkout_cancelled(subscription_id: str = Query(max_length=64)) -> HTMLResponse:
    """Stripe Checkout's cancel link: nothing was paid; the subscription stays on hold
    (subscribing again returns the same open Checkout page until it expires)."""
    return _page("Checkout cancelled", "Nothing was charged. Your subscription waits for payment;")
