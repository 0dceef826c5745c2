"""Where Stripe Checkout sends the consumer back: the success page (which activates the
subscription if the webhook has not yet, and waits for it otherwise, updating itself)
and the cancel page.

Stripe's redirect is a cross-site navigation, so the SameSite=Strict session cookie is
not sent with it: these pages answer from the Checkout session id alone and show only
the outcome, with a link to the subscription's page (a same-site click, signed in).
"""

from __future__ import annotations

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import NotFound
from tollway.domain.subscriptions import SubState
from tollway.http.deps import Ctx
from tollway.services import billing
from tollway.web import page_router, pages_of

router = page_router("/billing/checkout")

#: What the success page says for each state the subscription can be in afterwards.
OUTCOMES: dict[SubState, tuple[str, str]] = {
    SubState.ACTIVE: ("Thank you!", "Your subscription is active."),
    SubState.BLOCKED: ("Thank you!", "Your subscription is paid but currently blocked."),
    SubState.ON_HOLD: (
        "Waiting for payment",
        "Stripe has not confirmed the payment yet; your subscription becomes active as "
        "soon as it does. This page updates by itself.",
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

SessionId = Query(max_length=255)


def _outcome(request: Request, ctx: Ctx, session_id: str, state: SubState) -> Response:
    with ctx.tx(read_only=True) as conn:
        sub_id = billing.subscription_of_checkout(conn, session_id)
    title, message = OUTCOMES[state]
    context = {
        "title": title,
        "message": message,
        "state": state.value,
        "session_id": session_id,
        "sub_id": sub_id,
    }
    return pages_of(request).render(
        request, "portal/checkout_return.html", context, partial="portal/_checkout_status.html"
    )


@router.get("/success")
def checkout_success(request: Request, ctx: Ctx, session_id: str = SessionId) -> Response:
    """Stripe Checkout's success redirect: activates the subscription if the webhook has
    not yet (exactly once either way), committed before this page is sent."""
    try:
        state = billing.complete_checkout(ctx, session_id)
    except NotFound:
        raise NotFound("unknown checkout session") from None
    return _outcome(request, ctx, session_id, state)


@router.get("/status")
def checkout_status(request: Request, ctx: Ctx, session_id: str = SessionId) -> Response:
    """The success page's waiting region, polled until the subscription left on hold."""
    with ctx.tx(read_only=True) as conn:
        sub_id = billing.subscription_of_checkout(conn, session_id)
    state = billing.subscription_state(ctx, sub_id)
    return _outcome(request, ctx, session_id, state)


@router.get("/cancelled")
def checkout_cancelled(request: Request, subscription_id: str = Query(max_length=64)) -> Response:
    """Stripe Checkout's cancel link: nothing was paid; the subscription waits for
    payment, and its page offers "Complete payment" (a fresh Checkout session)."""
    return pages_of(request).render(
        request, "portal/checkout_cancelled.html", {"sub_id": subscription_id}
    )
