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

from sqlalchemy import Engine

from tollway.billing.credentials import EngineProvider
from tollway.billing.meters import meter_definition
from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import TollwayError
from tollway.metering.usage_windows import floor_to, measure
from tollway.store import billing_repo, ledger
from tollway.store.db import reading


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
    out: list[Line] = []
    with reading(db) as conn:
        billed = billing_repo.billed_subscriptions(conn, with_period=True)
    for b in billed:
        if b.meter_id is None or b.period_start_ms is None or b.period_end_ms is None:
            continue
        start = floor_to(b.period_start_ms // 1000, 60)
        end = min(floor_to(b.period_end_ms // 1000, 60), floor_to(now, window_s))
        if end <= start:
            continue
        with reading(db) as conn:
            meter = meter_definition(conn, b.organization_id, b.meter_key)
            events = ledger.events_between(conn, b.subscription_id, start * 1000, end * 1000)
        measured = int(measure(meter, events))
        try:
            total: int | None = engines.for_org(b.organization_id).meter_total(
                b.meter_id, b.customer_id, start, end
            )
            error = None
        except TollwayError as exc:
            total, error = None, exc.detail
        out.append(Line(b.subscription_id, b.meter_key, start, end, measured, total, error))
    return out
