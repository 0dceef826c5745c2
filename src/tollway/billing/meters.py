"""The meters a plan's usage is measured with, as stored for the organization, and
the usage they measure in the ledger."""

from __future__ import annotations

from sqlalchemy import Connection

from tollway.domain.errors import NotFound
from tollway.metering.meters import DEFAULT_METER, MeterDefinition, parse_meter
from tollway.metering.usage_windows import measure
from tollway.pricing.spec import PricingSpec
from tollway.store import ledger, plans_repo, subscribers_repo


def meter_definition(conn: Connection, organization_id: str, key: str) -> MeterDefinition:
    """The organization's meter ``key`` (the built-in one for its key); NotFound otherwise."""
    stored = plans_repo.meter_row(conn, organization_id, key)
    if stored is not None:
        return parse_meter(stored["definition"])
    if key == DEFAULT_METER.key:
        return DEFAULT_METER
    raise NotFound(f"meter {key!r} is not defined")


def ledger_usage(
    conn: Connection,
    organization_id: str,
    subscription_id: str,
    pricing: PricingSpec,
    start_s: int,
    end_s: int,
) -> dict[str, int]:
    """Each meter the pricing prices, measured over the subscription's ledger events in
    ``[start, end)`` (empty for a plan without a usage price)."""
    if not pricing.usage_prices or end_s <= start_s:
        return {}
    start_ms, end_ms = start_s * 1000, end_s * 1000
    definitions = {key: meter_definition(conn, organization_id, key) for key in pricing.meters}
    out: dict[str, int] = {}
    events = None  # read once, and only for a meter the database cannot count itself
    for key, meter in definitions.items():
        if meter == DEFAULT_METER:  # 2xx calls: counted by the database
            out[key] = subscribers_repo.billable_calls(conn, subscription_id, start_ms, end_ms)
            continue
        if events is None:
            events = ledger.events_between(conn, subscription_id, start_ms, end_ms)
        out[key] = int(measure(meter, events))
    return out
