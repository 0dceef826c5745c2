"""Which subscriptions have usage to push, and where it goes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from tollway.store import db as store_db
from tollway.store.billing_tables import billing_plans, billing_subscriptions
from tollway.store.tables import plans, subscriptions


@dataclass(frozen=True, slots=True)
class Billed:
    subscription_id: str
    organization_id: str
    customer_id: str
    meter_key: str
    event_name: str
    aggregation: str  # "sum" | "last"
    period_start_ms: int | None
    period_end_ms: int | None

    @property
    def boundaries(self) -> tuple[int, ...]:
        return tuple(b for b in (self.period_start_ms, self.period_end_ms) if b)


def billed_subscriptions(db: Engine, subscription_id: str | None = None) -> list[Billed]:
    """Subscriptions whose usage goes to Stripe: activated, on a plan with a meter."""
    q = (
        select(
            billing_subscriptions.c.subscription_id,
            billing_subscriptions.c.customer_id,
            billing_subscriptions.c.current_period_start,
            billing_subscriptions.c.current_period_end,
            plans.c.organization_id,
            billing_plans.c.meter_key,
            billing_plans.c.meter_event_name,
            billing_plans.c.meter_aggregation,
        )
        .join(subscriptions, subscriptions.c.id == billing_subscriptions.c.subscription_id)
        .join(plans, plans.c.id == subscriptions.c.plan_id)
        .join(
            billing_plans,
            (billing_plans.c.api_id == subscriptions.c.api_id)
            & (billing_plans.c.plan_id == subscriptions.c.plan_id),
        )
        .where(
            billing_subscriptions.c.stripe_subscription_id.is_not(None),
            billing_plans.c.meter_event_name.is_not(None),
        )
    )
    if subscription_id is not None:
        q = q.where(billing_subscriptions.c.subscription_id == subscription_id)
    with store_db.transaction(db, read_only=True) as conn:
        rows = conn.execute(q).fetchall()
    return [
        Billed(
            subscription_id=r.subscription_id,
            organization_id=r.organization_id,
            customer_id=r.customer_id,
            meter_key=r.meter_key,
            event_name=r.meter_event_name,
            aggregation=r.meter_aggregation or "sum",
            period_start_ms=r.current_period_start * 1000 if r.current_period_start else None,
            period_end_ms=r.current_period_end * 1000 if r.current_period_end else None,
        )
        for r in rows
    ]
