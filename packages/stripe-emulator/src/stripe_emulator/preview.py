"""``POST /v1/invoices/create_preview``: the next invoice, computed and never stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import errors
from .billing import is_metered, line, new_invoice, preview_lines
from .context import Ctx
from .ids import new_id
from .params import opt_int
from .periods import add_interval, boundary
from .prorations import apply_item_changes, behavior, metered_swap_lines, proration_lines
from .state import Obj
from .subscribe import build_items, trial_end_of


def existing(
    ctx: Ctx, sub: Obj, customer: Obj, details: dict[str, Any], extra: dict[str, Any]
) -> tuple[Obj, int | None]:
    """The next invoice of ``sub``, after the changes in ``details`` if any."""
    at = ctx.now(sub.get("test_clock"))
    ctx_extra = extra
    when = opt_int(details, "proration_date", "subscription_details") or at
    how = behavior(details.get("proration_behavior"), "subscription_details[proration_behavior]")
    if details.get("cancel_at_period_end") in (True, "true"):
        lines, period = preview_lines(ctx, sub)
        lines = [li for li in lines if li["period"]["start"] < period[1]]  # no renewal
        return _invoice(ctx, sub, customer, lines, period, "upcoming", at, ctx_extra), period[1]
    if not details.get("items"):
        lines, period = preview_lines(ctx, sub)
        lines = _scheduled_renewal(ctx, sub, lines, period[1])
        inv = _invoice(ctx, sub, customer, lines, period, "upcoming", period[1], ctx_extra)
        return inv, period[1]
    after = apply_item_changes(ctx, sub, details["items"], at, "subscription_details[items]")
    prorations = (
        []
        if how == "none"
        else metered_swap_lines(ctx, sub, after, at) + proration_lines(ctx, sub, after, when)
    )
    if how == "always_invoice":
        inv = _invoice(
            ctx, sub, customer, prorations, (when, when), "subscription_update", at, ctx_extra
        )
        return inv, None
    changed = {**sub, "items": {**sub["items"], "data": after}}
    lines, period = preview_lines(ctx, changed)
    inv = _invoice(ctx, sub, customer, prorations + lines, period, "upcoming", period[1], ctx_extra)
    return inv, period[1]


def _scheduled_renewal(ctx: Ctx, sub: Obj, lines: list[Obj], end: int) -> list[Obj]:
    """With a schedule phase starting at the period end, the renewal's licensed fees are
    that phase's (Stripe's upcoming invoice follows the schedule)."""
    schedule = ctx.state.get(sub.get("schedule") or "")
    if schedule is None or schedule["status"] != "active":
        return lines
    nxt = next((p for p in schedule["phases"] if p["start_date"] == end), None)
    if nxt is None:
        return lines
    specs = [
        {"price": it["price"], **({"quantity": it["quantity"]} if it["quantity"] else {})}
        for it in nxt["items"]
    ]
    kept = [li for li in lines if li["period"]["start"] < end]
    renewal = boundary(sub, sub["_n"] + 1)
    fees = [
        line(ctx, sub, it, Decimal(it.get("quantity") or 1), end, renewal)
        for it in build_items(ctx, sub["id"], specs, end)
        if not is_metered(ctx, it)
    ]
    return kept + fees


def new_subscription(
    ctx: Ctx, customer: Obj, details: dict[str, Any], extra: dict[str, Any]
) -> tuple[Obj, int | None]:
    """The first invoice of a subscription made of ``details[items]`` starting now."""
    at = opt_int(details, "start_date", "subscription_details") or ctx.now(
        customer.get("test_clock")
    )
    sub_id = new_id("sub")
    items = build_items(ctx, sub_id, list(details["items"]), at)
    if any(it.get("deleted") or it.get("id") for it in details["items"]):
        raise errors.bad(
            "subscription_details[items]",
            "Items of a new subscription cannot have `id` or `deleted`.",
        )
    rec = items[0]["price"]["recurring"]
    trial_end = trial_end_of(
        at, None, details.get("trial_end"), param="subscription_details[trial_end]"
    )
    end = trial_end or add_interval(at, rec["interval"], rec["interval_count"], 1)
    sub: Obj = {"id": sub_id, "currency": items[0]["price"]["currency"], "metadata": {}}
    lines = [
        line(ctx, sub, it, Decimal(it["quantity"] or 0), at, end, amount=0)
        if is_metered(ctx, it) or trial_end
        else line(ctx, sub, it, Decimal(it["quantity"] or 1), at, end)
        for it in items
    ]
    inv = _invoice(ctx, None, customer, lines, (at, at), "subscription_create", at, extra)
    return inv, None


def _invoice(
    ctx: Ctx,
    sub: Obj | None,
    customer: Obj,
    lines: list[Obj],
    period: tuple[int, int],
    reason: str,
    at: int,
    extra: dict[str, Any],
) -> Obj:
    """A preview invoice created at ``at``: the subscription's discounts that still apply
    then (or ``extra["discounts"]``), tax per ``extra["automatic_tax"]`` or the
    subscription's setting."""
    return new_invoice(
        ctx,
        sub,
        customer,
        lines,
        reason=reason,
        period=period,
        created=at,
        currency=lines[0]["currency"] if lines else None,
        discounts=extra.get("discounts"),
        automatic_tax=extra.get("automatic_tax"),
        preview=True,
    )
