"""The usage prices of provisioned plans (``billing_plan_meters``): one provider meter
and one metered price per meter a plan bills."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from tollway.store.billing_tables import billing_plan_meters


@dataclass(frozen=True, slots=True)
class PlanMeterRow:
    meter_key: str
    aggregation: str  # "sum" | "last"
    price_id: str
    meter_id: str
    event_name: str


def save_meters(
    conn: Connection, api_id: str, plan_id: str, meters: Sequence[PlanMeterRow]
) -> None:
    """Replace the plan's usage prices on the API with ``meters`` (in the plan's order)."""
    c = billing_plan_meters.c
    conn.execute(delete(billing_plan_meters).where(c.api_id == api_id, c.plan_id == plan_id))
    if meters:
        conn.execute(
            billing_plan_meters.insert(),
            [
                {
                    "api_id": api_id,
                    "plan_id": plan_id,
                    "meter_key": m.meter_key,
                    "position": i,
                    "price_id": m.price_id,
                    "meter_id": m.meter_id,
                    "meter_event_name": m.event_name,
                    "meter_aggregation": m.aggregation,
                }
                for i, m in enumerate(meters)
            ],
        )


def meters_of(conn: Connection, api_id: str, plan_id: str) -> list[PlanMeterRow]:
    """The plan's usage prices on the API as provisioned, in the plan's order."""
    c = billing_plan_meters.c
    rows = conn.execute(
        select(billing_plan_meters)
        .where(c.api_id == api_id, c.plan_id == plan_id)
        .order_by(c.position)
    )
    return [
        PlanMeterRow(r.meter_key, r.meter_aggregation, r.price_id, r.meter_id, r.meter_event_name)
        for r in rows
    ]
