"""Billing meters, meter events (deduplicated by identifier), adjustments, summaries."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from .. import errors
from ..context import Ctx
from ..ids import new_id, rand
from ..metering import aggregate, duplicate, meter_for
from ..params import one_of, opt_int, require
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj

PAST_LIMIT = 35 * 86400
FUTURE_LIMIT = 5 * 60


@router.post("/v1/billing/meters", "billing_meter")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "display_name", "event_name", "default_aggregation")
    require(p["default_aggregation"], "formula", prefix="default_aggregation")
    formula = one_of(
        p["default_aggregation"]["formula"],
        ("sum", "count", "last"),
        "default_aggregation[formula]",
    )
    for other in ctx.state.of("billing.meter"):
        if other["event_name"] == p["event_name"] and other["status"] == "active":
            raise errors.bad(
                "event_name",
                f"An active meter with event_name `{p['event_name']}` already exists.",
            )
    mapping = p.get("customer_mapping") or {}
    now = ctx.now()
    obj: Obj = {
        "id": new_id("mtr_test"),
        "object": "billing.meter",
        "created": now,
        "customer_mapping": {
            "event_payload_key": mapping.get("event_payload_key") or "stripe_customer_id",
            "type": one_of(mapping.get("type") or "by_id", ("by_id",), "customer_mapping[type]"),
        },
        "default_aggregation": {"formula": formula},
        "display_name": p["display_name"],
        "event_name": p["event_name"],
        "event_time_window": p.get("event_time_window") or None,
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {
            "event_payload_key": (p.get("value_settings") or {}).get("event_payload_key") or "value"
        },
    }
    ctx.state.put(obj)
    ctx.emit("billing.meter.created", obj)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/billing/meters/{id}", "billing_meter")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "billing.meter", "billing meter")


@router.post("/v1/billing/meters/{id}", "billing_meter")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "billing.meter", "billing meter")
    if p.get("display_name"):
        obj["display_name"] = p["display_name"]
    obj["updated"] = ctx.now()
    return render(ctx.state, obj, expand_list(p))


def _set_status(ctx: Ctx, meter_id: str, status: str) -> Obj:
    obj = ctx.fetch(meter_id, "billing.meter", "billing meter")
    obj["status"] = status
    obj["status_transitions"]["deactivated_at"] = ctx.now() if status == "inactive" else None
    obj["updated"] = ctx.now()
    ctx.emit(
        "billing.meter.deactivated" if status == "inactive" else "billing.meter.reactivated", obj
    )
    return obj


@router.post("/v1/billing/meters/{id}/deactivate", "billing_meter")
def deactivate(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return render(ctx.state, _set_status(ctx, ids[0], "inactive"), expand_list(p))


@router.post("/v1/billing/meters/{id}/reactivate", "billing_meter")
def reactivate(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return render(ctx.state, _set_status(ctx, ids[0], "active"), expand_list(p))


@router.get("/v1/billing/meters", "billing_meter")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("billing.meter")
    if p.get("status"):
        items = [m for m in items if m["status"] == p["status"]]
    return paginate(ctx.state, items, p, "/v1/billing/meters")


def _whole_number(value: str, param: str) -> None:
    """Stripe's v1 meter events take whole-number values only."""
    if not re.fullmatch(r"-?\d+", value.strip()):
        raise errors.bad(
            param,
            f"Invalid value for {param}: meter event values must be whole numbers (got {value!r}).",
        )


@router.post("/v1/billing/meter_events", "billing_meter_event")
def create_event(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "event_name", "payload")
    payload = {str(k): str(v) for k, v in p["payload"].items()}
    meter = meter_for(ctx.state, p["event_name"])
    customer_key = meter["customer_mapping"]["event_payload_key"] if meter else "stripe_customer_id"
    value_key = meter["value_settings"]["event_payload_key"] if meter else "value"
    if customer_key not in payload:
        raise errors.missing(f"payload[{customer_key}]")
    if value_key in payload:
        _whole_number(payload[value_key], f"payload[{value_key}]")
    elif not meter or meter["default_aggregation"]["formula"] != "count":
        raise errors.missing(f"payload[{value_key}]")
    now = ctx.now(ctx.clock_of_customer(payload[customer_key]))
    ts = opt_int(p, "timestamp")
    ts = now if ts is None else ts
    if ts < now - PAST_LIMIT:
        raise errors.StripeError(
            400,
            "Timestamp must be within the past 35 calendar days.",
            code="timestamp_too_far_in_past",
            param="timestamp",
        )
    if ts > now + FUTURE_LIMIT:
        raise errors.StripeError(
            400,
            "Timestamp must not be more than 5 minutes in the future.",
            code="timestamp_in_future",
            param="timestamp",
        )
    identifier = p.get("identifier") or f"emu_{rand(20)}"
    window = ctx.settings.meter_event_identifier_window_s
    if duplicate(ctx.state, identifier, now, window):
        raise errors.StripeError(
            400,
            f"An event already exists with identifier {identifier}.",
            param="identifier",
            headers={"Stripe-Should-Retry": "false"},
        )
    event: Obj = {
        "object": "billing.meter_event",
        "created": now,
        "event_name": p["event_name"],
        "identifier": identifier,
        "livemode": False,
        "payload": payload,
        "timestamp": ts,
    }
    received = ctx.state.wall_now()
    ctx.state.meter_events.append(
        {
            **event,
            "_received": received,
            "_visible_at": received + ctx.settings.meter_event_delay_s,
            "_dedupe_at": now,
        }
    )
    return event


@router.post("/v1/billing/meter_event_adjustments", "billing_meter_event")
def adjust(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "event_name")
    identifier = (p.get("cancel") or {}).get("identifier")
    if not identifier:
        raise errors.missing("cancel[identifier]")
    for e in ctx.state.meter_events:
        if e["identifier"] == identifier and e["event_name"] == p["event_name"]:
            e["_canceled"] = True
    return {
        "object": "billing.meter_event_adjustment",
        "event_name": p["event_name"],
        "livemode": False,
        "status": "complete",
        "type": "cancel",
        "cancel": {"identifier": identifier},
    }


def _number(d: Decimal) -> Any:
    return int(d) if d == d.to_integral_value() else float(d)


@router.get("/v1/billing/meters/{id}/event_summaries", "billing_meter")
def summaries(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    meter = ctx.fetch(ids[0], "billing.meter", "billing meter")
    require(p, "customer", "start_time", "end_time")
    start, end = opt_int(p, "start_time"), opt_int(p, "end_time")
    assert start is not None and end is not None
    window = p.get("value_grouping_window")
    step = {None: None, "hour": 3600, "day": 86400}.get(window, -1)
    if step == -1:
        raise errors.bad(
            "value_grouping_window", "Invalid value_grouping_window: must be one of `day`, `hour`"
        )
    align = step or 60
    for name, t in (("start_time", start), ("end_time", end)):
        if t % align:
            unit = {60: "minute", 3600: "hour", 86400: "day"}[align]
            raise errors.bad(name, f"{name} must be aligned with {unit} boundaries.")
    if end <= start:
        raise errors.bad("end_time", "end_time must be after start_time.")
    bounds = (
        [(start, end)]
        if step is None
        else [(s, min(s + step, end)) for s in range(start, end, step)]
    )
    items = []
    for s, e in reversed(bounds):
        digest = hashlib.sha256(f"{meter['id']}|{p['customer']}|{s}|{e}".encode()).hexdigest()
        items.append(
            {
                "id": "mtrusg_test_" + digest[:24],
                "object": "billing.meter_event_summary",
                "aggregated_value": _number(aggregate(ctx.state, meter, p["customer"], s, e)),
                "end_time": e,
                "livemode": False,
                "meter": meter["id"],
                "start_time": s,
            }
        )
    return paginate(ctx.state, items, p, f"/v1/billing/meters/{meter['id']}/event_summaries")
