"""Creating subscriptions: items, trials, discounts, tax, billing mode, first invoice.

Trials (Stripe's ``trial_period_days`` / ``trial_end``): the subscription is
``trialing`` from the start whether or not a payment method exists, its first invoice
is $0 (lines at zero), its first period is the trial and the billing cycle is anchored
on ``trial_end``. ``customer.subscription.trial_will_end`` is sent three days before the
end (at once for a shorter trial). What happens at the end is in ``lifecycle.renew``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import discounts as discounting
from . import errors
from .billing import attempt_payment, finalize, is_metered, line, new_invoice
from .context import Ctx
from .ids import new_id
from .periods import add_interval
from .render import clean
from .state import Obj

MAX_TRIAL_S = 730 * 86400
END_BEHAVIORS = ("create_invoice", "pause", "cancel")


def build_items(ctx: Ctx, sub_id: str, items: list[dict[str, Any]], start: int) -> list[Obj]:
    out: list[Obj] = []
    for i, it in enumerate(items):
        param = f"items[{i}]"
        if not it.get("price"):
            raise errors.missing(f"{param}[price]")
        price = ctx.fetch(it["price"], "price", "price", f"{param}[price]")
        if not price.get("recurring"):
            raise errors.bad(
                f"{param}[price]",
                "The price specified is set to `type=one_time` "
                "but this field only accepts prices with `type=recurring`.",
            )
        if not price["active"]:
            raise errors.bad(
                f"{param}[price]",
                "The price specified is inactive. This field only accepts active prices.",
            )
        metered = price["recurring"]["usage_type"] == "metered"
        if metered and it.get("quantity") not in (None, ""):
            raise errors.bad(
                f"{param}[quantity]",
                "Quantity should not be specified where "
                "usage_type is `metered`. Remove quantity from `" + param + "`.",
            )
        quantity = None if metered else int(it.get("quantity") or 1)
        out.append(
            {
                "id": new_id("si"),
                "object": "subscription_item",
                "billing_thresholds": None,
                "created": start,
                "current_period_end": 0,
                "current_period_start": start,
                "discounts": [],
                "metadata": dict(it.get("metadata") or {}),
                "price": clean(ctx.state, price),
                "quantity": quantity,
                "subscription": sub_id,
                "tax_rates": [],
            }
        )
    first = out[0]["price"]["recurring"]
    for item in out[1:]:
        r = item["price"]["recurring"]
        if (r["interval"], r["interval_count"]) != (first["interval"], first["interval_count"]):
            raise errors.bad(
                "items",
                "All prices on a subscription must have the same "
                "`recurring.interval` and `recurring.interval_count`.",
            )
    return out


def trial_end_of(at: int, days: int | None, end: Any, *, param: str = "trial_end") -> int | None:
    """The trial's end from ``trial_period_days`` or ``trial_end`` (a timestamp, ``now``)."""
    if days is not None and end not in (None, ""):
        raise errors.bad(param, "You may only specify one of trial_end and trial_period_days.")
    if days is not None:
        if not 0 <= days <= 730:
            raise errors.bad("trial_period_days", "trial_period_days must be between 0 and 730.")
        return at + days * 86400 if days else None
    if end in (None, "", "now"):
        return None
    value = int(str(end))
    if not at < value <= at + MAX_TRIAL_S:
        raise errors.bad(
            param, "Invalid timestamp: must be in the future and at most two years from now."
        )
    return value


def end_behavior(settings: Any, prefix: str = "trial_settings") -> str:
    raw = ((settings or {}).get("end_behavior") or {}).get("missing_payment_method")
    if raw in (None, ""):
        return "create_invoice"
    if raw not in END_BEHAVIORS:
        raise errors.bad(
            f"{prefix}[end_behavior][missing_payment_method]",
            "must be one of create_invoice, pause, cancel",
        )
    return str(raw)


def start_subscription(
    ctx: Ctx,
    customer: Obj,
    items: list[dict[str, Any]],
    *,
    at: int,
    default_payment_method: str | None = None,
    metadata: dict[str, Any] | None = None,
    payment_behavior: str = "allow_incomplete",
    trial_end: int | None = None,
    missing_payment_method: str = "create_invoice",
    cancel_at_period_end: bool = False,
    description: str | None = None,
    off_session: bool = False,
    from_checkout: bool = False,
    discounts: Any = None,
    automatic_tax: bool = False,
    billing_mode: str = "classic",
    checkout_session: str | None = None,
) -> tuple[Obj, Obj]:
    """Create a subscription and its first invoice; returns (subscription, invoice)."""
    if not items:
        raise errors.missing("items")
    sub_id = new_id("sub")
    built = build_items(ctx, sub_id, items, at)
    rec = built[0]["price"]["recurring"]
    anchor = trial_end or at
    first_end = trial_end or add_interval(anchor, rec["interval"], rec["interval_count"], 1)
    for item in built:
        item["current_period_end"] = first_end
    redeemed = discounting.redeem(
        ctx,
        discounts,
        customer=customer["id"],
        at=at,
        subscription=sub_id,
        checkout_session=checkout_session,
    )
    sub: Obj = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": automatic_tax, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {
            "type": billing_mode,
            "flexible": {"proration_discounts": "itemized"} if billing_mode == "flexible" else None,
            "updated_at": at if billing_mode == "flexible" else None,
        },
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": at,
        "currency": built[0]["price"]["currency"],
        "customer": customer["id"],
        "days_until_due": None,
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [d["id"] for d in redeemed],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": built,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": at,
        "status": "incomplete",
        "test_clock": customer.get("test_clock"),
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": missing_payment_method}},
        "trial_start": at if trial_end else None,
        "_anchor": anchor,
        "_n": 0 if trial_end else 1,
        "_interval": rec["interval"],
        "_interval_count": rec["interval_count"],
    }
    ctx.state.put(sub)
    # licensed items are billed in advance; metered ones (flat tiers included) in arrears;
    # a trial bills nothing
    lines = [
        line(ctx, sub, it, Decimal(it["quantity"] or 0), at, first_end, amount=0)
        if trial_end or is_metered(ctx, it)
        else line(ctx, sub, it, Decimal(it["quantity"]), at, first_end)
        for it in built
    ]
    if trial_end:
        for li in lines:
            li["description"] = f"Trial period for {li['description']}"
    inv = new_invoice(
        ctx, sub, customer, lines, reason="subscription_create", period=(at, at), created=at
    )
    sub["latest_invoice"] = inv["id"]
    finalize(ctx, inv, at)
    if inv["amount_due"] == 0 or payment_behavior != "default_incomplete":
        result = attempt_payment(ctx, inv, at, off_session=off_session, retries=from_checkout)
    else:
        result = "pending"
    if result == "paid":
        sub["status"] = "trialing" if trial_end else "active"
    elif from_checkout:
        sub["status"] = "past_due"
    ctx.emit("customer.subscription.created", sub, created=at, automatic=from_checkout)
    if trial_end and trial_end - at <= 3 * 86400:
        trial_will_end(ctx, sub, at)
    if result != "paid" and payment_behavior == "error_if_incomplete":
        raise errors.card_declined(
            "generic_decline", inv.get("_last_payment_error") or "Your card was declined."
        )
    return sub, inv


def trial_will_end(ctx: Ctx, sub: Obj, at: int) -> None:
    sub["_trial_will_end_sent"] = True
    ctx.emit("customer.subscription.trial_will_end", sub, created=at, automatic=True)
