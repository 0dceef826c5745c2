"""Meter events as Stripe treats them: accepted at once, processed asynchronously.

* An accepted event reaches summaries and invoices only ``meter_event_delay_s`` seconds
  of wall-clock time later (``visible_at``), as Stripe's processing lag.
* Its identifier is refused again while the previous event with it is younger than
  ``meter_event_identifier_window_s`` (Stripe: a rolling 24 hours), measured on the
  customer's test clock when it has one, so advancing the clock moves the window.
"""

from __future__ import annotations

from decimal import Decimal

from .state import EmulatorState, Obj


def meter_for(state: EmulatorState, event_name: str) -> Obj | None:
    for m in state.of("billing.meter"):
        if m["event_name"] == event_name and m["status"] == "active":
            return m
    return None


def duplicate(state: EmulatorState, identifier: str, now: int, window: int) -> bool:
    """Whether ``identifier`` was accepted less than ``window`` seconds before ``now``."""
    return any(
        e["identifier"] == identifier and now - int(e.get("_dedupe_at") or e["created"]) < window
        for e in state.meter_events
    )


def visible(event: Obj, wall_now: float) -> bool:
    return float(event.get("_visible_at", 0)) <= wall_now


def aggregate(state: EmulatorState, meter: Obj, customer_id: str, start: int, end: int) -> Decimal:
    """The meter's value for one customer over [start, end), from processed events."""
    key = meter["customer_mapping"]["event_payload_key"]
    vkey = meter["value_settings"]["event_payload_key"]
    wall_now = state.wall_now()
    events = [
        e
        for e in state.meter_events
        if e["event_name"] == meter["event_name"]
        and not e.get("_canceled")
        and visible(e, wall_now)
        and e["payload"].get(key) == customer_id
        and start <= e["timestamp"] < end
    ]
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return Decimal(len(events))
    if not events:
        return Decimal(0)
    if formula == "last":
        last = max(enumerate(events), key=lambda ie: (ie[1]["timestamp"], ie[0]))[1]
        return Decimal(last["payload"].get(vkey, "0"))
    return sum((Decimal(e["payload"].get(vkey, "0")) for e in events), Decimal(0))
