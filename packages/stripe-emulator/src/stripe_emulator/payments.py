"""PaymentIntents: one-off card payments (Checkout ``mode=payment`` and off-session
charges of a saved card, e.g. an automatic top-up of prepaid credit).

Confirming charges the payment method with Stripe's test-card outcomes (``cards``):
success -> ``succeeded`` and ``payment_intent.succeeded``; a decline -> 402
``card_error``/``card_declined`` (with ``decline_code``), the intent back to
``requires_payment_method`` with ``last_payment_error`` and
``payment_intent.payment_failed``; a card that needs authentication, charged off
session -> 402 ``authentication_required``, likewise. ``setup_future_usage`` saves the
payment method to the customer for later off-session use.
"""

from __future__ import annotations

from typing import Any

from . import cards, errors
from .context import Ctx
from .ids import new_id, rand
from .render import clean
from .state import Obj


def new_intent(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    payment_method: str | None,
    at: int,
    setup_future_usage: str | None = None,
    metadata: dict[str, Any] | None = None,
    description: str | None = None,
) -> Obj:
    pid = new_id("pi")
    pi: Obj = {
        "id": pid,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pid}_secret_{rand(24)}",
        "confirmation_method": "automatic",
        "created": at,
        "currency": currency,
        "customer": customer,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_confirmation" if payment_method else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    ctx.state.put(pi)
    ctx.emit("payment_intent.created", pi, created=at)
    return pi


def confirm(ctx: Ctx, pi: Obj, *, off_session: bool, at: int) -> None:
    """Charge the intent's payment method; raises the card error Stripe answers with."""
    pm = ctx.state.get(pi["payment_method"]) if pi.get("payment_method") else None
    if pm is None:
        raise errors.bad(
            "payment_method",
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
        )
    if off_session and pi.get("customer") and pm.get("customer") != pi["customer"]:
        raise errors.bad(
            "payment_method",
            "The provided PaymentMethod does not belong to the Customer of this PaymentIntent.",
        )
    outcome = cards.on_charge(pm["_number"], off_session=off_session)
    if outcome.status == "succeeded":
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["latest_charge"] = new_id("ch")
        pi["last_payment_error"] = None
        if pi.get("setup_future_usage") and pi.get("customer") and not pm.get("customer"):
            pm["customer"] = pi["customer"]
            ctx.emit("payment_method.attached", pm, created=at)
        ctx.emit("payment_intent.succeeded", pi, created=at)
        return
    code = "authentication_required" if outcome.status == "requires_action" else "card_declined"
    pi["status"] = "requires_payment_method"
    pi["last_payment_error"] = {
        "code": code,
        "decline_code": outcome.decline_code,
        "message": outcome.message,
        "payment_method": clean(ctx.state, pm),
        "type": "card_error",
    }
    ctx.emit("payment_intent.payment_failed", pi, created=at)
    raise errors.StripeError(
        402,
        str(outcome.message),
        type="card_error",
        code=code,
        decline_code=outcome.decline_code,
        extra={"payment_intent": clean(ctx.state, pi)},
    )
