"""Reconciliation: ledger totals vs Stripe's meter event summaries.

For every billed subscription, over its current billing period up to the last closed
usage window (both ends aligned to whole minutes, as Stripe's summaries require), the
ledger's meter value (2xx calls by default, the plan's meter in general) is compared
with Stripe's summary for the subscription's customer on the plan's meter. Every
difference is reported. Run ``publish usage`` first to leave nothing pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from tollway.billing import records
from tollway.billing.credentials import EngineProvider
from tollway.billing.service import meter_definition
from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import TollwayError
from tollway.metering.usage_windows import floor_to, measure
from tollway.store.billing_tables import billing_plans, billing_subscriptions
from tollway.store.tables import plans, subscriptions


@dataclass(frozen=True, slots=True)
class Line:
    subscription_id: str
    meter_key: str
    start: int  # epoch seconds
    end: int
    ledger: int
    stripe: int | None  # None when Stripe could not be asked
    error: str | None = None

    @property
    def differs(self) -> bool:
        return self.stripe is None or self.ledger != self.stripe

    def describe(self) -> str:
        s = datetime.fromtimestamp(self.start, UTC).isoformat()
        e = datetime.fromtimestamp(self.end, UTC).isoformat()
        stripe = self.error if self.stripe is None else str(self.stripe)
        return (
            f"{self.subscription_id} {self.meter_key} [{s} .. {e}): "
            f"ledger {self.ledger}, stripe {stripe}"
        )


def reconcile(
    db: Engine, engines: EngineProvider, *, clock: Clock | None = None, window_s: int = 60
) -> list[Line]:
    now = int((clock or SystemClock()).now().timestamp())
    q = (
        select(
            billing_subscriptions.c.subscription_id,
            billing_subscriptions.c.customer_id,
            billing_subscriptions.c.current_period_start,
            billing_subscriptions.c.current_period_end,
            plans.c.organization_id,
            billing_plans.c.meter_id,
            billing_plans.c.meter_key,
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
            billing_plans.c.meter_id.is_not(None),
            billing_subscriptions.c.current_period_start.is_not(None),
        )
        .order_by(billing_subscriptions.c.subscription_id)
    )
    out: list[Line] = []
    with records.reading(db) as conn:
        rows = conn.execute(q).fetchall()
    for r in rows:
        start = floor_to(int(r.current_period_start), 60)
        end = min(floor_to(int(r.current_period_end), 60), floor_to(now, window_s))
        if end <= start:
            continue
        with records.reading(db) as conn:
            meter = meter_definition(conn, r.organization_id, r.meter_key)
            events = records.ledger_events(conn, r.subscription_id, start * 1000, end * 1000)
        ledger = int(measure(meter, events))
        try:
            total: int | None = engines.for_org(r.organization_id).meter_total(
                r.meter_id, r.customer_id, start, end
            )
            error = None
        except TollwayError as exc:
            total, error = None, exc.detail
        out.append(Line(r.subscription_id, r.meter_key, start, end, ledger, total, error))
    return out
