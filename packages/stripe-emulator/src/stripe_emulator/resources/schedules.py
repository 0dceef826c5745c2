"""Subscription schedules: create (``from_subscription``), retrieve, update (phases),
release, cancel, list."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Ctx
from ..lifecycle import cancel_subscription
from ..params import metadata, one_of
from ..render import expand_list, paginate, render
from ..router import router
from ..schedules import new_schedule, set_phases
from ..state import Obj


@router.post("/v1/subscription_schedules", "subscription_schedule")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    if not p.get("from_subscription"):
        raise errors.bad(
            "from_subscription",
            "The emulator creates schedules from an existing subscription only: pass "
            "`from_subscription`.",
        )
    sub = ctx.fetch(p["from_subscription"], "subscription", "subscription", "from_subscription")
    schedule = new_schedule(ctx, sub, ctx.now(sub.get("test_clock")))
    schedule["metadata"] = metadata({}, p.get("metadata"))
    ctx.emit("subscription_schedule.created", schedule)
    return render(ctx.state, schedule, expand_list(p))


@router.get("/v1/subscription_schedules/{id}", "subscription_schedule")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "subscription_schedule", "subscription_schedule")


@router.post("/v1/subscription_schedules/{id}", "subscription_schedule")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    schedule = ctx.fetch(ids[0], "subscription_schedule", "subscription_schedule")
    if schedule["status"] not in ("active", "not_started"):
        raise errors.bad(None, f"You cannot update a schedule that is {schedule['status']}.")
    sub = ctx.fetch(schedule["subscription"], "subscription", "subscription")
    if p.get("phases"):
        set_phases(ctx, schedule, sub, list(p["phases"]))
    if p.get("end_behavior"):
        schedule["end_behavior"] = one_of(p["end_behavior"], ("release", "cancel"), "end_behavior")
    end = schedule["phases"][-1]["end_date"]
    sub["cancel_at"] = end if schedule["end_behavior"] == "cancel" else None
    schedule["metadata"] = metadata(schedule["metadata"], p.get("metadata"))
    ctx.emit("subscription_schedule.updated", schedule)
    return render(ctx.state, schedule, expand_list(p))


@router.post("/v1/subscription_schedules/{id}/release", "subscription_schedule")
def release(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    schedule = ctx.fetch(ids[0], "subscription_schedule", "subscription_schedule")
    if schedule["status"] != "active":
        raise errors.bad(None, f"You cannot release a schedule that is {schedule['status']}.")
    sub = ctx.state.get(schedule["subscription"]) or {}
    at = ctx.now(schedule.get("test_clock"))
    schedule.update(status="released", released_at=at, released_subscription=sub.get("id"),
                    current_phase=None)  # fmt: skip
    sub["schedule"] = None
    ctx.emit("subscription_schedule.released", schedule)
    return render(ctx.state, schedule, expand_list(p))


@router.post("/v1/subscription_schedules/{id}/cancel", "subscription_schedule")
def cancel(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    schedule = ctx.fetch(ids[0], "subscription_schedule", "subscription_schedule")
    if schedule["status"] != "active":
        raise errors.bad(None, f"You cannot cancel a schedule that is {schedule['status']}.")
    sub = ctx.fetch(schedule["subscription"], "subscription", "subscription")
    at = ctx.now(schedule.get("test_clock"))
    schedule.update(status="canceled", canceled_at=at, current_phase=None)
    sub["schedule"] = None
    cancel_subscription(ctx, sub, at, invoice_now=p.get("invoice_now") in (True, "true"))
    ctx.emit("subscription_schedule.canceled", schedule)
    return render(ctx.state, schedule, expand_list(p))


@router.get("/v1/subscription_schedules", "subscription_schedule")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("subscription_schedule")
    if p.get("customer"):
        items = [s for s in items if s["customer"] == p["customer"]]
    return paginate(ctx.state, items, p, "/v1/subscription_schedules")
