"""What Tollway keeps of a plan provisioned at the billing provider: the product, the
flat price and one meter with its metered price per usage price (``billing_plans``
keeps the first of them too, ``billing_plan_meters`` all of them)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection

from tollway.billing.engine import PlanBillingSpec, ProvisionedMeter, ProvisionedPlan
from tollway.store import billing_meters_repo, billing_repo
from tollway.store.billing_meters_repo import PlanMeterRow


def _price_set(plan: ProvisionedPlan) -> str:
    """The plan's prices in one value (``flat|usage``; a digest when too long for the
    column, as with several usage prices)."""
    text = "|".join(p or "-" for p in (plan.flat_price_id, *(plan.usage_price_ids or (None,))))
    return text if len(text) <= 64 else hashlib.sha256(text.encode()).hexdigest()


def save(
    conn: Connection,
    spec: PlanBillingSpec,
    result: ProvisionedPlan,
    now: datetime,
) -> None:
    """Record what ``provision_plan`` returned for the plan on the API."""
    values = {
        "product_id": result.product_id,
        "flat_price_id": result.flat_price_id,
        "usage_price_id": result.usage_price_id,
        "meter_id": result.meter_id,
        "meter_event_name": result.meter_event_name,
        "meter_key": spec.usage.meter_key if spec.usage else None,
        "meter_aggregation": spec.usage.aggregation if spec.usage else None,
        "pricing_hash": _price_set(result),
        "active": True,
        "updated_at": now,
    }
    billing_repo.save_provisioned(conn, spec.api_id, spec.plan_id, values)
    billing_meters_repo.save_meters(
        conn,
        spec.api_id,
        spec.plan_id,
        [
            PlanMeterRow(m.meter_key, m.aggregation, m.price_id, m.meter_id, m.event_name)
            for m in result.meters
        ],
    )


def load(conn: Connection, api_id: str, plan_id: str) -> ProvisionedPlan | None:
    """The plan as provisioned on the API (None before it is)."""
    row = billing_repo.provisioned(conn, api_id, plan_id)
    if row is None:
        return None
    meters = billing_meters_repo.meters_of(conn, api_id, plan_id)
    return ProvisionedPlan(
        product_id=row.product_id,
        flat_price_id=row.flat_price_id,
        usage_price_id=row.usage_price_id,
        meter_id=row.meter_id,
        meter_event_name=row.meter_event_name,
        meters=tuple(
            ProvisionedMeter(
                m.meter_key,
                "last" if m.aggregation == "last" else "sum",
                m.price_id,
                m.meter_id,
                m.event_name,
            )
            for m in meters
        ),
    )
