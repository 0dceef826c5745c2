"""Invoices: build lines from prices and meter usage, finalize, charge the customer's card."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import cards, rating, taxes
from . import discounts as discounting
from .context import Ctx
from .currencies import ZERO_DECIMAL
from .ids import new_id
from .metering import aggregate
from .params import decimal_str
from .periods import boundary
from .state import Obj


def money(amount: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{currency.upper()} {amount}"
    return f"{currency.upper()} {Decimal(amount) / 100:.2f}"


def item_quantity(ctx: Ctx, item: Obj, customer_id: str, start: int, end: int) -> Decimal:
    """A metered item's usage over ``[start, end)``, counted only from when the item
    got its price (a price swapped or an item added mid-period: Stripe bills the new
    price for the usage from then on); a licensed item's quantity."""
    start = max(start, int(item.get("_usage_from") or start))
    price = ctx.state.get(item["price"]["id"]) or item["price"]
    meter_id = (price.get("recurring") or {}).get("meter")
    if meter_id:
        meter = ctx.state.get(meter_id)
        if meter is None:
            return Decimal(0)
        return max(aggregate(ctx.state, meter, customer_id, start, end), Decimal(0))
    return Decimal(item.get("quantity") or 0)


def is_metered(ctx: Ctx, item: Obj) -> bool:
    price = ctx.state.get(item["price"]["id"]) or item["price"]
    return (price.get("recurring") or {}).get("usage_type") == "metered"


def line(
    ctx: Ctx,
    sub: Obj,
    item: Obj,
    quantity: Decimal,
    start: int,
    end: int,
    *,
    amount: int | None = None,
) -> Obj:
    """One invoice line for a subscription item; ``amount`` overrides the rating (a
    metered item on its first invoice is 0: usage, flat tiers included, is billed at
    period end)."""
    price = ctx.state.get(item["price"]["id"]) or item["price"]
    product = ctx.state.get(price["product"]) or {"name": price["product"]}
    amount = rating.amount(price, quantity) if amount is None else amount
    integral = quantity == quantity.to_integral_value()
    qty_text = decimal_str(quantity)
    if price["billing_scheme"] == "tiered":
        desc = f"{product['name']} ({qty_text} units, {price['tiers_mode']} tiers)"
    elif price.get("transform_quantity"):
        tq = price["transform_quantity"]
        desc = f"{qty_text} x {product['name']} (per {tq['divide_by']}, rounded {tq['round']})"
    else:
        desc = f"{qty_text} x {product['name']}"
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": desc,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
        },
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price["id"], "product": price["product"]},
            "unit_amount_decimal": price.get("unit_amount_decimal"),
        },
        "quantity": int(quantity) if integral else None,
        "quantity_decimal": qty_text,
        "subtotal": amount,
        "taxes": [],
    }


def new_invoice(
    ctx: Ctx,
    sub: Obj | None,
    customer: Obj,
    lines: list[Obj],
    *,
    reason: str,
    period: tuple[int, int],
    created: int,
    currency: str | None = None,
    discounts: list[Obj] | None = None,
    automatic_tax: bool | None = None,
    preview: bool = False,
) -> Obj:
    """An invoice (not stored) of ``lines`` with the subscription's discounts that apply
    at ``created`` (or ``discounts``) and Stripe Tax when enabled; a real (not preview)
    invoice uses up ``once`` discounts."""
    inv_id = new_id("in")
    total = sum(li["amount"] for li in lines)
    for li in lines:
        li["invoice"] = inv_id
    cur = currency or (lines[0]["currency"] if lines else sub["currency"] if sub else "usd")
    if discounts is None:
        discounts = (
            discounting.active(ctx, discounting.discounts_of(ctx, sub), created) if sub else []
        )
    if automatic_tax is None:
        automatic_tax = bool(((sub or {}).get("automatic_tax") or {}).get("enabled"))
    inv = _invoice_object(ctx, inv_id, sub, customer, lines, reason, period, created, cur, total)
    inv["automatic_tax"]["enabled"] = automatic_tax
    refresh_totals(ctx, inv, customer, discounts)
    if sub is not None and not preview and discounts:
        discounting.after_invoiced(ctx, sub, inv, created)
    return inv


def refresh_totals(ctx: Ctx, inv: Obj, customer: Obj, discounts: list[Obj] | None = None) -> None:
    """Discounts, tax and the totals of ``inv`` from its lines (``discounts``: those it
    already carries when None)."""
    if discounts is None:
        discounts = list(inv.get("_discount_data") or [])
    discounting.apply(ctx, inv, discounts)
    tax = taxes.apply(ctx, inv, customer)
    subtotal = sum(li["amount"] for li in inv["lines"]["data"])
    discount = sum(d["amount"] for d in inv["total_discount_amounts"])
    inv["subtotal"] = inv["subtotal_excluding_tax"] = subtotal
    inv["total_excluding_tax"] = subtotal - discount
    inv["total"] = subtotal - discount + tax
    inv["amount_due"] = max(inv["total"], 0)
    inv["amount_remaining"] = inv["amount_due"] - inv.get("amount_paid", 0)


def _invoice_object(
    ctx: Ctx,
    inv_id: str,
    sub: Obj | None,
    customer: Obj,
    lines: list[Obj],
    reason: str,
    period: tuple[int, int],
    created: int,
    cur: str,
    total: int,
) -> Obj:
    return {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Stripe emulator (development)",
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": reason,
        "collection_method": (sub or {}).get("collection_method", "charge_automatically"),
        "created": created,
        "currency": cur,
        "customer": customer["id"],
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/invoices/{inv_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "parent": None
        if sub is None
        else {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(sub.get("metadata") or {}),
                "subscription": sub["id"],
            },
        },
        "period_end": period[1],
        "period_start": period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": customer.get("test_clock"),
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
        # endive invoices name their subscription only under parent.subscription_details
        "_subscription": None if sub is None else sub["id"],
    }


def set_lines(ctx: Ctx, inv: Obj, lines: list[Obj]) -> None:
    for li in lines:
        li["invoice"] = inv["id"]
    inv["lines"]["data"] = lines
    refresh_totals(ctx, inv, ctx.state.get(inv["customer"]) or {})


def open_draft(ctx: Ctx, inv: Obj, at: int) -> None:
    """Store a draft invoice and emit invoice.created; it finalizes after the grace."""
    inv["automatically_finalizes_at"] = at + ctx.settings.invoice_finalization_grace_s
    ctx.state.put(inv)
    ctx.emit("invoice.created", inv, created=at, automatic=True)


def finalize(ctx: Ctx, inv: Obj, at: int) -> None:
    """Finalize an invoice (storing it and emitting invoice.created first if new)."""
    if ctx.state.get(inv["id"]) is None:
        ctx.state.put(inv)
        ctx.emit("invoice.created", inv, created=at, automatic=True)
    inv["automatically_finalizes_at"] = None
    customer = ctx.state.get(inv["customer"]) or {}
    seq = int(customer.get("next_invoice_sequence", 1))
    customer["next_invoice_sequence"] = seq + 1
    inv["number"] = f"{customer.get('invoice_prefix', 'EMU')}-{seq:04d}"
    inv["status"] = "open"
    inv["effective_at"] = at
    inv["status_transitions"]["finalized_at"] = at
    inv["hosted_invoice_url"] = f"{ctx.api_base}/invoice/{inv['id']}"
    ctx.emit("invoice.finalized", inv, created=at, automatic=True)


def payment_method_for(ctx: Ctx, inv: Obj) -> Obj | None:
    sub = ctx.state.get(inv["_subscription"]) if inv.get("_subscription") else None
    customer = ctx.state.get(inv["customer"]) or {}
    pm_id = (sub or {}).get("default_payment_method") or (
        customer.get("invoice_settings") or {}
    ).get("default_payment_method")
    pm = ctx.state.get(pm_id) if pm_id else None
    return pm if pm is not None and pm.get("customer") == customer.get("id") else None


def mark_paid(ctx: Ctx, inv: Obj, at: int) -> None:
    inv["amount_paid"] = inv["amount_due"]
    inv["amount_remaining"] = 0
    inv["status"] = "paid"
    inv["next_payment_attempt"] = None
    inv["status_transitions"]["paid_at"] = at
    ctx.emit("invoice.paid", inv, created=at, automatic=True)
    ctx.emit("invoice.payment_succeeded", inv, created=at, automatic=True)


def attempt_payment(ctx: Ctx, inv: Obj, at: int, *, off_session: bool, retries: bool = True) -> str:
    """Charge an open invoice; returns "paid", "failed" or "requires_action"."""
    if inv["amount_due"] <= 0:
        mark_paid(ctx, inv, at)
        return "paid"
    pm = payment_method_for(ctx, inv)
    inv["attempt_count"] += 1
    inv["attempted"] = True
    outcome = (
        cards.on_charge(pm["_number"], off_session=off_session)
        if pm
        else cards.Outcome(
            "declined", "no_payment_method", "The customer has no default payment method."
        )
    )
    inv["_last_payment_error"] = outcome.message
    if outcome.status == "succeeded":
        inv["default_payment_method"] = pm["id"] if pm else None
        mark_paid(ctx, inv, at)
        return "paid"
    days = ctx.settings.invoice_retry_days
    n = inv["attempt_count"]
    inv["next_payment_attempt"] = (
        at + days[n - 1] * 86400
        if retries and outcome.status == "declined" and n <= len(days)
        else None
    )
    if outcome.status == "requires_action":
        ctx.emit("invoice.payment_action_required", inv, created=at, automatic=True)
        return "requires_action"
    ctx.emit("invoice.payment_failed", inv, created=at, automatic=True)
    return "failed"


def subscription_of(ctx: Ctx, inv: Obj) -> Obj | None:
    return ctx.state.get(inv["_subscription"]) if inv.get("_subscription") else None


def preview_lines(ctx: Ctx, sub: Obj) -> tuple[list[Obj], tuple[int, int]]:
    """Lines of the next invoice: pending prorations, usage so far this period and the
    next period's licensed fees."""
    items = sub["items"]["data"]
    start, end = items[0]["current_period_start"], items[0]["current_period_end"]
    nxt = boundary(sub, sub["_n"] + 1)
    lines: list[Obj] = [dict(li) for li in sub.get("_pending_lines", [])]
    trial = sub.get("status") == "trialing"  # the trial's usage is invoiced at zero
    for item in items:
        if is_metered(ctx, item):
            q = item_quantity(ctx, item, sub["customer"], start, end)
            li = line(ctx, sub, item, q, start, end, amount=0 if trial else None)
            if trial:
                li["description"] = f"Trial period for {li['description']}"
            lines.append(li)
        else:
            lines.append(line(ctx, sub, item, Decimal(item.get("quantity") or 1), end, nxt))
    return lines, (start, end)


def summary(inv: Obj) -> dict[str, Any]:
    return {
        "id": inv["id"],
        "status": inv["status"],
        "amount_due": inv["amount_due"],
        "currency": inv["currency"],
    }
