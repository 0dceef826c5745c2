"""Subscription schedules: the change "at period end" Stripe recommends.

A schedule made ``from_subscription`` has one phase, the current period. Updating it
with a second phase that starts when the first ends (``end_date`` = the period end)
makes the subscription switch to the new phase's prices at that renewal, with no
proration: the closing invoice bills the ended period's usage on the old prices and
the next period's licensed fees on the new ones. After the last phase the schedule is
``released`` (``end_behavior=release``, the subscription goes on) or the subscription
is canceled (``end_behavior=cancel``).
"""

from __future__ import annotations

from typing import Any

from . import errors
from .context import Ctx
from .ids import new_id
from .params import opt_int, to_bool
from .periods import add_interval
from .state import Obj
from .subscribe import build_items


def phase_of(sub: Obj) -> Obj:
    items = sub["items"]["data"]
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": sub["currency"],
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": items[0]["current_period_end"],
        "invoice_settings": None,
        "items": [
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": {},
                "price": it["price"]["id"],
                "quantity": it.get("quantity"),
                "tax_rates": [],
            }
            for it in items
        ],
        "metadata": {},
        "on_behalf_of": None,
        "proration_behavior": "create_prorations",
        "start_date": items[0]["current_period_start"],
        "transfer_data": None,
        "trial_end": None,
    }


def new_schedule(ctx: Ctx, sub: Obj, at: int) -> Obj:
    if sub.get("schedule"):
        raise errors.bad(
            "from_subscription",
            f"You cannot migrate a subscription that is already attached to a schedule: "
            f"`{sub['schedule']}`.",
        )
    phase = phase_of(sub)
    obj: Obj = {
        "id": new_id("sub_sched"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": dict(sub.get("billing_mode") or {"type": "classic"}),
        "canceled_at": None,
        "completed_at": None,
        "created": at,
        "current_phase": {"start_date": phase["start_date"], "end_date": phase["end_date"]},
        "customer": sub["customer"],
        "default_settings": None,
        "end_behavior": "release",
        "livemode": False,
        "metadata": {},
        "phases": [phase],
        "released_at": None,
        "released_subscription": None,
        "status": "active",
        "subscription": sub["id"],
        "test_clock": sub.get("test_clock"),
    }
    sub["schedule"] = obj["id"]
    return ctx.state.put(obj)


def set_phases(ctx: Ctx, schedule: Obj, sub: Obj, raw: list[dict[str, Any]]) -> None:
    """Replace the phases: the first must be the current one (same start); each next one
    starts where the previous ends (``end_date`` or ``duration``)."""
    if not raw:
        raise errors.missing("phases")
    current = schedule["phases"][0]
    phases: list[Obj] = []
    start = int(current["start_date"])
    for i, p in enumerate(raw):
        param = f"phases[{i}]"
        given = p.get("start_date")
        if given not in (None, "", "now") and int(str(given)) != start:
            raise errors.bad(
                f"{param}[start_date]",
                "Phases must be contiguous: each phase starts when the previous one ends.",
            )
        items = p.get("items") or []
        if not items:
            raise errors.missing(f"{param}[items]")
        built = build_items(ctx, sub["id"], [dict(it) for it in items], start)  # validates prices
        end = opt_int(p, "end_date", param)
        duration = p.get("duration")
        if end is None and duration:
            rec = built[0]["price"]["recurring"]
            count = int(duration.get("interval_count") or 1)
            end = add_interval(start, duration.get("interval") or rec["interval"], count, 1)
        if end is None and i < len(raw) - 1:
            raise errors.missing(f"{param}[end_date]")
        if end is not None and end <= start:
            raise errors.bad(f"{param}[end_date]", "end_date must be after start_date.")
        phase = {
            **phase_of(sub),
            "items": [
                {**phase_of(sub)["items"][0], "price": b["price"]["id"], "quantity": b["quantity"]}
                for b in built
            ],
            "start_date": start,
            "end_date": end,
            "proration_behavior": p.get("proration_behavior") or "create_prorations",
        }
        if p.get("automatic_tax"):
            enabled = to_bool(p["automatic_tax"].get("enabled", False), f"{param}[automatic_tax]")
            phase["automatic_tax"] = {"enabled": enabled, "liability": None,
                                      "disabled_reason": None}  # fmt: skip
        phases.append(phase)
        start = end if end is not None else start
    schedule["phases"] = phases


def advance(ctx: Ctx, sub: Obj, at: int) -> None:
    """At a renewal at ``at``: move the subscription into the schedule's phase starting
    then (its prices), or finish the schedule after its last phase."""
    schedule = ctx.state.get(sub.get("schedule") or "")
    if schedule is None or schedule["status"] != "active":
        return
    nxt = next((p for p in schedule["phases"] if p["start_date"] == at), None)
    if nxt is not None:
        by_price = {it["price"]["id"]: it for it in sub["items"]["data"]}
        items: list[Obj] = []
        for want in nxt["items"]:
            keep = by_price.get(want["price"])
            if keep is not None:
                keep["quantity"] = want["quantity"]
                items.append(keep)
            else:
                spec = {"price": want["price"]}
                if want["quantity"] is not None:
                    spec["quantity"] = want["quantity"]
                items.extend(build_items(ctx, sub["id"], [spec], at))
        sub["items"]["data"] = items
        if nxt.get("automatic_tax"):
            sub["automatic_tax"]["enabled"] = bool(nxt["automatic_tax"]["enabled"])
        schedule["current_phase"] = {"start_date": at, "end_date": nxt["end_date"]}
        return
    last = schedule["phases"][-1]
    if last["end_date"] is not None and at >= last["end_date"]:
        schedule["status"] = "released"
        schedule["released_at"] = at
        schedule["released_subscription"] = sub["id"]
        schedule["current_phase"] = None
        sub["schedule"] = None
        ctx.emit("subscription_schedule.released", schedule, created=at, automatic=True)
