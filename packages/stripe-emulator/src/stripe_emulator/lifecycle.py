"""Subscription lifecycle and the scheduler that closes periods when time passes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import errors
from .billing import (
    attempt_payment,
    finalize,
    is_metered,
    item_quantity,
    line,
    new_invoice,
    open_draft,
    set_lines,
    subscription_of,
)
from .context import Ctx
from .ids import new_id
from .periods import add_interval, boundary
from .render import clean
from .state import Obj

LIVE = ("active", "trialing", "past_due", "unpaid")


def set_status(ctx: Ctx, sub: Obj, status: str, at: int) -> None:
    if sub["status"] == status:
        return
    before = sub["status"]
    sub["status"] = status
    ctx.emit(
        "customer.subscription.updated",
        sub,
        previous={"status": before},
        created=at,
        automatic=True,
    )


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


def start_subscription(
    ctx: Ctx,
    customer: Obj,
    items: list[dict[str, Any]],
    *,
    at: int,
    default_payment_method: str | None = None,
    metadata: dict[str, Any] | None = None,
    payment_behavior: str = "allow_incomplete",
    trial_days: int | None = None,
    cancel_at_period_end: bool = False,
    description: str | None = None,
    off_session: bool = False,
    from_checkout: bool = False,
) -> tuple[Obj, Obj]:
    """Create a subscription and its first invoice; returns (subscription, invoice)."""
    if not items:
        raise errors.missing("items")
    sub_id = new_id("sub")
    built = build_items(ctx, sub_id, items, at)
    rec = built[0]["price"]["recurring"]
    trial_end = at + trial_days * 86400 if trial_days else None
    anchor = trial_end or at
    first_end = trial_end or add_interval(anchor, rec["interval"], rec["interval_count"], 1)
    for item in built:
        item["current_period_end"] = first_end
    sub: Obj = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"},
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
        "discounts": [],
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
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": at if trial_end else None,
        "_anchor": anchor,
        "_n": 0 if trial_end else 1,
        "_interval": rec["interval"],
        "_interval_count": rec["interval_count"],
    }
    ctx.state.put(sub)
    # licensed items are billed in advance; metered ones (flat tiers included) in arrears
    lines = [
        line(ctx, sub, it, Decimal(it["quantity"] or 0), at, first_end, amount=0)
        if trial_end or is_metered(ctx, it)
        else line(ctx, sub, it, Decimal(it["quantity"]), at, first_end)
        for it in built
    ]
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
    if result != "paid" and payment_behavior == "error_if_incomplete":
        raise errors.card_declined(
            "generic_decline", inv.get("_last_payment_error") or "Your card was declined."
        )
    return sub, inv


def cancel_subscription(
    ctx: Ctx,
    sub: Obj,
    at: int,
    *,
    invoice_now: bool = False,
    reason: str = "cancellation_requested",
) -> None:
    """End ``sub`` now. ``invoice_now``: a final invoice for the usage not yet invoiced
    (and pending prorations) is finalized at once and its payment attempted."""
    if invoice_now:
        inv = _usage_invoice(ctx, sub, at, reason="subscription_cycle", licensed=False)
        if inv is not None:
            finalize(ctx, inv, at)
            attempt_payment(ctx, inv, at, off_session=True)
    sub["status"] = "canceled"
    sub["canceled_at"] = sub["canceled_at"] or at
    sub["ended_at"] = at
    sub["cancellation_details"]["reason"] = reason
    ctx.emit("customer.subscription.deleted", sub, created=at, automatic=True)


def _metered_lines(ctx: Ctx, sub: Obj, customer_id: str, start: int, end: int) -> list[Obj]:
    return [
        line(ctx, sub, it, item_quantity(ctx, it, customer_id, start, end), start, end)
        for it in sub["items"]["data"]
        if is_metered(ctx, it)
    ]


def _usage_invoice(ctx: Ctx, sub: Obj, at: int, *, reason: str, licensed: bool) -> Obj | None:
    """The invoice closing the period up to ``at`` (not stored yet): metered usage,
    pending prorations and, with ``licensed``, the next period's licensed fees."""
    customer = ctx.state.get(sub["customer"])
    if customer is None:
        return None
    items = sub["items"]["data"]
    start = items[0]["current_period_start"]
    lines = [*sub.pop("_pending_lines", []), *_metered_lines(ctx, sub, customer["id"], start, at)]
    if licensed:
        nxt = boundary(sub, sub["_n"] + 1)
        lines += [
            line(ctx, sub, it, Decimal(it["quantity"] or 1), at, nxt)
            for it in items
            if not is_metered(ctx, it)
        ]
    if not lines:
        return None
    inv = new_invoice(ctx, sub, customer, lines, reason=reason, period=(start, at), created=at)
    inv["_usage_period"] = [start, at]
    sub["latest_invoice"] = inv["id"]
    return inv


def _close_period(ctx: Ctx, inv: Obj, at: int) -> None:
    """A period-closing invoice: a draft for the finalization grace (late usage for its
    period still counts), or finalized and charged at once when the grace is 0."""
    if ctx.settings.invoice_finalization_grace_s > 0:
        open_draft(ctx, inv, at)
    else:
        finalize_draft(ctx, inv, at)


def finalize_draft(ctx: Ctx, inv: Obj, at: int) -> None:
    """Re-rate the draft's metered lines with the usage processed by now, finalize it,
    charge it and move its subscription's status after the payment."""
    sub = subscription_of(ctx, inv)
    period = inv.get("_usage_period")
    if sub is not None and period:
        fresh = {
            li["parent"]["subscription_item_details"]["subscription_item"]: li
            for li in _metered_lines(ctx, sub, inv["customer"], period[0], period[1])
        }
        lines = [
            fresh.pop(li["parent"]["subscription_item_details"]["subscription_item"], li)
            if not li["parent"]["subscription_item_details"]["proration"]
            else li
            for li in inv["lines"]["data"]
        ]
        set_lines(inv, lines)
    finalize(ctx, inv, at)
    result = attempt_payment(ctx, inv, at, off_session=True)
    if sub is not None and sub["status"] not in ("canceled", "incomplete_expired"):
        after_payment(ctx, sub, result, at)


def renew(ctx: Ctx, sub: Obj, at: int) -> None:
    """Close the period ending at ``at``: invoice it, start the next period."""
    if sub["cancel_at_period_end"] or (sub["cancel_at"] and sub["cancel_at"] <= at):
        inv = _usage_invoice(ctx, sub, at, reason="subscription_cycle", licensed=False)
        cancel_subscription(ctx, sub, at)
        if inv is not None:
            _close_period(ctx, inv, at)
        return
    inv = _usage_invoice(ctx, sub, at, reason="subscription_cycle", licensed=True)
    previous = {"items": clean(ctx.state, sub["items"])}
    sub["_n"] += 1
    nxt = boundary(sub, sub["_n"])
    for item in sub["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = at, nxt
    if sub["status"] == "trialing":
        previous["status"] = "trialing"
        sub["status"] = "active"
    ctx.emit("customer.subscription.updated", sub, previous=previous, created=at, automatic=True)
    if inv is not None:
        _close_period(ctx, inv, at)


def after_payment(ctx: Ctx, sub: Obj, result: str, at: int) -> None:
    if result == "paid":
        if sub["status"] in ("past_due", "unpaid", "incomplete"):
            set_status(ctx, sub, "active", at)
    elif sub["status"] in ("active", "trialing"):
        set_status(ctx, sub, "past_due", at)


def retry_invoice(ctx: Ctx, inv: Obj, at: int) -> None:
    result = attempt_payment(ctx, inv, at, off_session=True)
    sub = subscription_of(ctx, inv)
    if sub is None or sub["status"] in ("canceled", "incomplete_expired"):
        return
    if result == "failed" and inv["next_payment_attempt"] is None:
        if ctx.settings.after_failed_retries == "canceled":
            cancel_subscription(ctx, sub, at, reason="payment_failed")
        else:
            set_status(ctx, sub, "unpaid", at)
        return
    after_payment(ctx, sub, result, at)


def expire_session(ctx: Ctx, session: Obj, at: int) -> None:
    session["status"] = "expired"
    session["url"] = None
    ctx.emit("checkout.session.expired", session, created=at, automatic=True)


def _due(ctx: Ctx, clock_id: str | None) -> list[tuple[int, int, str, Obj]]:
    out: list[tuple[int, int, str, Obj]] = []
    for obj in ctx.state.objects.values():
        kind = obj.get("object")
        if kind == "checkout.session":
            if obj["status"] == "open" and obj.get("_clock") == clock_id:
                out.append((obj["expires_at"], 0, "expire", obj))
        elif kind == "subscription" and obj.get("test_clock") == clock_id:
            if obj["status"] in LIVE:
                end = obj["items"]["data"][0]["current_period_end"]
                if obj["cancel_at"] and obj["cancel_at"] < end:
                    out.append((obj["cancel_at"], 1, "cancel", obj))
                else:
                    out.append((end, 1, "renew", obj))
            elif obj["status"] == "incomplete":
                out.append((obj["created"] + 23 * 3600, 1, "incomplete_expired", obj))
        elif kind == "invoice" and obj.get("test_clock") == clock_id:
            if obj["status"] == "draft" and obj.get("automatically_finalizes_at"):
                out.append((obj["automatically_finalizes_at"], 2, "finalize", obj))
            elif obj["status"] == "open" and obj.get("next_payment_attempt"):
                out.append((obj["next_payment_attempt"], 2, "retry", obj))
    return out


def run_due(ctx: Ctx, clock_id: str | None, until: int) -> int:
    """Process everything due up to ``until`` in time order; returns how many steps ran."""
    steps = 0
    while steps < 100_000:
        due = [d for d in _due(ctx, clock_id) if d[0] <= until]
        if not due:
            return steps
        at, _, action, obj = min(due, key=lambda d: (d[0], d[1]))
        if clock_id:
            clock = ctx.state.get(clock_id)
            if clock is not None:
                clock["frozen_time"] = at
        if action == "expire":
            expire_session(ctx, obj, at)
        elif action == "renew":
            renew(ctx, obj, at)
        elif action == "cancel":
            cancel_subscription(ctx, obj, at)
        elif action == "incomplete_expired":
            set_status(ctx, obj, "incomplete_expired", at)
        elif action == "retry":
            retry_invoice(ctx, obj, at)
        elif action == "finalize":
            finalize_draft(ctx, obj, at)
        steps += 1
    return steps
