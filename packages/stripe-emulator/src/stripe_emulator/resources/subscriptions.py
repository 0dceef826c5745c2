"""Subscriptions and subscription items."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import errors
from ..billing import attempt_payment, finalize, is_metered, item_quantity, line, new_invoice
from ..context import Ctx
from ..discounts import redeem
from ..lifecycle import after_payment, cancel_subscription
from ..params import metadata, one_of, opt_int, require, to_bool
from ..periods import boundary
from ..prorations import apply_item_changes, behavior, metered_swap_lines, proration_lines
from ..render import clean, expand_list, paginate, render
from ..router import router
from ..state import Obj
from ..subscribe import end_behavior, start_subscription, trial_end_of
from ..taxes import country_of
from .customers import attach, resolve_pm


def _pm_for(ctx: Ctx, customer: Obj, pm_id: str | None) -> str | None:
    if not pm_id:
        return None
    pm = resolve_pm(ctx, pm_id, "default_payment_method")
    attach(ctx, pm, customer)
    return str(pm["id"])


@router.post("/v1/subscriptions", "subscription")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "customer")
    customer = ctx.fetch(p["customer"], "customer", "customer", "customer")
    if not p.get("items"):
        raise errors.missing("items")
    if p.get("collection_method") not in (None, "", "charge_automatically"):
        raise errors.bad(
            "collection_method",
            "The emulator only supports `collection_method=charge_automatically`.",
        )
    behavior = one_of(
        p.get("payment_behavior") or "allow_incomplete",
        ("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"),
        "payment_behavior",
    )
    at = ctx.now(customer.get("test_clock"))
    automatic_tax = _automatic_tax(p, customer)
    sub, _inv = start_subscription(
        ctx,
        customer,
        p["items"],
        at=at,
        default_payment_method=_pm_for(ctx, customer, p.get("default_payment_method")),
        metadata=metadata({}, p.get("metadata")),
        payment_behavior=behavior,
        trial_end=trial_end_of(at, opt_int(p, "trial_period_days"), p.get("trial_end")),
        missing_payment_method=end_behavior(p.get("trial_settings")),
        cancel_at_period_end=to_bool(p.get("cancel_at_period_end", False), "cancel_at_period_end"),
        description=p.get("description") or None,
        off_session=to_bool(p.get("off_session", False), "off_session"),
        discounts=p.get("discounts") or [],
        automatic_tax=automatic_tax,
        billing_mode=(p.get("billing_mode") or {}).get("type") or "classic",
    )
    return render(ctx.state, sub, expand_list(p))


@router.get("/v1/subscriptions/{id}", "subscription")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "subscription", "subscription")


@router.post("/v1/subscriptions/{id}", "subscription")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    sub = ctx.fetch(ids[0], "subscription", "subscription")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise errors.bad(
            None, "A canceled subscription can only update its cancellation_details and metadata."
        )
    previous: dict[str, Any] = {}
    at = ctx.now(sub.get("test_clock"))
    if "cancel_at_period_end" in p:
        flag = to_bool(p["cancel_at_period_end"], "cancel_at_period_end")
        if flag != sub["cancel_at_period_end"]:
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            previous["canceled_at"] = sub["canceled_at"]
            sub["cancel_at_period_end"] = flag
            sub["canceled_at"] = at if flag else None
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"] if flag else None
    if "cancel_at" in p:
        previous["cancel_at"] = sub["cancel_at"]
        sub["cancel_at"] = opt_int(p, "cancel_at")
    if "default_payment_method" in p:
        customer = ctx.fetch(sub["customer"], "customer", "customer")
        previous["default_payment_method"] = sub["default_payment_method"]
        sub["default_payment_method"] = _pm_for(ctx, customer, p["default_payment_method"])
    if "description" in p:
        previous["description"] = sub["description"]
        sub["description"] = p["description"] or None
    if "metadata" in p:
        previous["metadata"] = dict(sub["metadata"])
        sub["metadata"] = metadata(sub["metadata"], p["metadata"])
    if p.get("cancellation_details"):
        sub["cancellation_details"].update(
            {k: v or None for k, v in p["cancellation_details"].items()}
        )
    if "discounts" in p:
        previous["discounts"] = list(sub["discounts"])
        redeemed = redeem(
            ctx, p["discounts"] or [], customer=sub["customer"], at=at, subscription=sub["id"]
        )
        sub["discounts"] = [d["id"] for d in redeemed]
    if p.get("automatic_tax"):
        customer = ctx.fetch(sub["customer"], "customer", "customer")
        enabled = _automatic_tax(p, customer)
        if enabled != sub["automatic_tax"]["enabled"]:
            previous["automatic_tax"] = dict(sub["automatic_tax"])
            sub["automatic_tax"]["enabled"] = enabled
    if p.get("items"):
        previous["items"] = clean(ctx.state, sub["items"])
        _change_items(ctx, sub, p, at)
    if previous:
        ctx.emit("customer.subscription.updated", sub, previous=previous, created=at)
    return render(ctx.state, sub, expand_list(p))


def _automatic_tax(p: dict[str, Any], customer: Obj) -> bool:
    """``automatic_tax[enabled]``; Stripe refuses it for a customer it cannot locate."""
    enabled = to_bool((p.get("automatic_tax") or {}).get("enabled", False), "automatic_tax")
    if enabled and not country_of(customer):
        raise errors.StripeError(
            400,
            "The customer's location isn't recognized. Set a valid customer address "
            "before enabling automatic tax.",
            code="customer_tax_location_invalid",
            param="automatic_tax[enabled]",
        )
    return enabled


def _change_items(ctx: Ctx, sub: Obj, p: dict[str, Any], at: int) -> None:
    after = apply_item_changes(ctx, sub, p["items"], at)
    how = behavior(p.get("proration_behavior"))
    when = opt_int(p, "proration_date") or at
    rec = after[0]["price"]["recurring"]
    new_cycle = (rec["interval"], rec["interval_count"]) != (
        sub["_interval"],
        sub["_interval_count"],
    )
    if p.get("billing_cycle_anchor") == "now" or new_cycle:
        _reset_cycle(ctx, sub, after, at, how)
        return
    lines = (
        []
        if how == "none"
        else metered_swap_lines(ctx, sub, after, at) + proration_lines(ctx, sub, after, when)
    )
    sub["items"]["data"] = after
    if not lines:
        return
    if how == "create_prorations":
        sub.setdefault("_pending_lines", []).extend(lines)
        return
    customer = ctx.fetch(sub["customer"], "customer", "customer")
    inv = new_invoice(
        ctx, sub, customer, lines, reason="subscription_update", period=(when, when), created=at
    )
    sub["latest_invoice"] = inv["id"]
    finalize(ctx, inv, at)
    after_payment(ctx, sub, attempt_payment(ctx, inv, at, off_session=True), at)


def _reset_cycle(ctx: Ctx, sub: Obj, after: list[Obj], at: int, how: str) -> None:
    """``billing_cycle_anchor=now`` (or a new interval, which Stripe always anchors
    now): the period ends at once. One invoice, finalized and charged now: credits for
    the unused time of the old licensed items (unless ``none``), the usage so far of
    the old metered items, and the new items' licensed fees for a whole new period."""
    start = sub["items"]["data"][0]["current_period_start"]
    old_metered = [it for it in sub["items"]["data"] if is_metered(ctx, it)]
    credits = [] if how == "none" else [
        li for li in proration_lines(ctx, sub, [], at) if li["amount"] < 0
    ]  # fmt: skip
    usage = [
        line(ctx, sub, it, item_quantity(ctx, it, sub["customer"], start, at), start, at)
        for it in old_metered
    ]
    rec = after[0]["price"]["recurring"]
    sub.update(_anchor=at, _n=1, _interval=rec["interval"], _interval_count=rec["interval_count"])
    sub["billing_cycle_anchor"] = at
    end = boundary(sub, 1)
    for it in after:
        it["current_period_start"], it["current_period_end"] = at, end
        it.pop("_usage_from", None)
    sub["items"]["data"] = after
    fees = [
        line(ctx, sub, it, Decimal(it.get("quantity") or 1), at, end)
        for it in after
        if not is_metered(ctx, it)
    ]
    lines = [*sub.pop("_pending_lines", []), *credits, *usage, *fees]
    customer = ctx.fetch(sub["customer"], "customer", "customer")
    inv = new_invoice(
        ctx, sub, customer, lines, reason="subscription_update", period=(start, at), created=at
    )
    sub["latest_invoice"] = inv["id"]
    finalize(ctx, inv, at)
    after_payment(ctx, sub, attempt_payment(ctx, inv, at, off_session=True), at)


@router.delete("/v1/subscriptions/{id}", "subscription")
def cancel(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    sub = ctx.fetch(ids[0], "subscription", "subscription")
    if sub["status"] == "canceled":
        raise errors.bad(None, f"This subscription has already been canceled ({sub['id']}).")
    at = ctx.now(sub.get("test_clock"))
    if p.get("cancellation_details"):
        sub["cancellation_details"].update(
            {k: v or None for k, v in p["cancellation_details"].items()}
        )
    cancel_subscription(
        ctx, sub, at, invoice_now=to_bool(p.get("invoice_now", False), "invoice_now")
    )
    return render(ctx.state, sub, expand_list(p))


@router.get("/v1/subscriptions", "subscription")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("subscription")
    status = p.get("status")
    if status == "ended":
        items = [s for s in items if s["status"] in ("canceled", "incomplete_expired")]
    elif status and status != "all":
        items = [s for s in items if s["status"] == status]
    elif not status:
        items = [s for s in items if s["status"] != "canceled"]
    for field in ("customer", "test_clock"):
        if p.get(field):
            items = [s for s in items if s.get(field) == p[field]]
    if p.get("price"):
        items = [
            s for s in items if any(i["price"]["id"] == p["price"] for i in s["items"]["data"])
        ]
    return paginate(ctx.state, items, p, "/v1/subscriptions")


@router.get("/v1/subscription_items", "subscription")
def list_items(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "subscription")
    sub = ctx.fetch(p["subscription"], "subscription", "subscription", "subscription")
    return paginate(
        ctx.state, list(sub["items"]["data"]), p, f"/v1/subscription_items?subscription={sub['id']}"
    )


@router.get("/v1/subscription_items/{id}", "subscription")
def retrieve_item(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    for sub in ctx.state.of("subscription"):
        for item in sub["items"]["data"]:
            if item["id"] == ids[0]:
                return render(ctx.state, item, expand_list(p))
    raise errors.no_such("subscription_item", ids[0])
