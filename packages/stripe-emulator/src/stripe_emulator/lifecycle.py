"""Subscription lifecycle and the scheduler that closes periods when time passes."""

from __future__ import annotations

from decimal import Decimal

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
from .periods import boundary
from .render import clean
from .schedules import advance as advance_schedule
from .state import Obj
from .subscribe import trial_will_end

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
    """The period's usage lines; usage during a trial is shown at zero."""
    trial = bool(sub.get("trial_end")) and end <= int(sub["trial_end"])
    out = []
    for it in sub["items"]["data"]:
        if is_metered(ctx, it):
            q = item_quantity(ctx, it, customer_id, start, end)
            li = line(ctx, sub, it, q, start, end, amount=0 if trial else None)
            if trial:
                li["description"] = f"Trial period for {li['description']}"
            out.append(li)
    return out


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
        advance_schedule(ctx, sub, at)  # a scheduled change takes effect with the new period
        nxt = boundary(sub, sub["_n"] + 1)
        lines += [
            line(ctx, sub, it, Decimal(it["quantity"] or 1), at, nxt)
            for it in sub["items"]["data"]
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
            if not li["parent"]["subscription_item_details"]["proration"] and not li.get("_fixed")
            else li
            for li in inv["lines"]["data"]
        ]
        set_lines(ctx, inv, lines)
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
    if sub["status"] == "trialing" and not _trial_continues(ctx, sub, at):
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


def _trial_continues(ctx: Ctx, sub: Obj, at: int) -> bool:
    """At the end of a trial without a payment method, Stripe follows
    ``trial_settings[end_behavior][missing_payment_method]``: ``create_invoice`` bills
    (the invoice then fails: ``past_due``), ``pause`` pauses without an invoice,
    ``cancel`` cancels. Returns whether the subscription renews."""
    how = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
    customer = ctx.state.get(sub["customer"]) or {}
    pm = sub.get("default_payment_method") or (customer.get("invoice_settings") or {}).get(
        "default_payment_method"
    )
    if pm or how == "create_invoice":
        return True
    if how == "cancel":
        inv = _usage_invoice(ctx, sub, at, reason="subscription_cycle", licensed=False)
        cancel_subscription(ctx, sub, at, reason="cancellation_requested")
        if inv is not None:
            _close_period(ctx, inv, at)
        return False
    set_status(ctx, sub, "paused", at)
    ctx.emit("customer.subscription.paused", sub, created=at, automatic=True)
    return False


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
            if obj["status"] == "trialing" and not obj.get("_trial_will_end_sent"):
                out.append((int(obj["trial_end"]) - 3 * 86400, 0, "trial_will_end", obj))
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
        elif action == "trial_will_end":
            trial_will_end(ctx, obj, at)
        elif action == "incomplete_expired":
            set_status(ctx, obj, "incomplete_expired", at)
        elif action == "retry":
            retry_invoice(ctx, obj, at)
        elif action == "finalize":
            finalize_draft(ctx, obj, at)
        steps += 1
    return steps
