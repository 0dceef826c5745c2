"""Reconciliation: ledger totals vs Stripe's meter event summaries.

For every billed subscription, over its current billing period up to the last closed
usage window (both ends aligned to whole minutes, as Stripe's summaries require), the
ledger's meter value (2xx calls by default, the plan's meter in general) is compared
with Stripe's summary for the subscription's customer on the plan's meter. Every
difference is reported. Run ``publish usage`` first to leave nothing pending.

Stripe aggregates meter events asynchronously, so only *settled* windows are compared:
those before the first window whose push is still pending or was accepted less than
``lag_s`` ago. The ledger's usage from there on is reported as pending, not as a
difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from tollway.billing.credentials import EngineProvider
from tollway.billing.meters import meter_definition
from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import TollwayError
from tollway.metering.usage_windows import floor_to, measure
from tollway.store import billing_repo, ledger, usage_push_repo
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
    pending: int = 0  # ledger usage after ``end`` Stripe may not have counted yet
    pending_until: int | None = None  # end of the pending range (epoch seconds)

    @property
    def differs(self) -> bool:
        return self.stripe is None or self.ledger != self.stripe

    def describe(self) -> str:
        s = datetime.fromtimestamp(self.start, UTC).isoformat()
        e = datetime.fromtimestamp(self.end, UTC).isoformat()
        stripe = self.error if self.stripe is None else str(self.stripe)
        text = (
            f"{self.subscription_id} {self.meter_key} [{s} .. {e}): "
            f"ledger {self.ledger}, stripe {stripe}"
        )
        if self.pending:
            text += f"; {self.pending} pending (not yet counted by Stripe)"
        return text


def reconcile(
    db: Engine,
    engines: EngineProvider,
    *,
    clock: Clock | None = None,
    window_s: int = 60,
    lag_s: float = 300.0,
) -> list[Line]:
    current = (clock or SystemClock()).now()
    now = int(current.timestamp())
    settled_before = current - timedelta(seconds=lag_s)
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
            unsettled = usage_push_repo.unsettled_start(
                conn, b.subscription_id, b.meter_key, settled_before
            )
            settled = end if unsettled is None else max(start, min(end, unsettled // 1000))
            settled = floor_to(settled, 60)
            events = ledger.events_between(conn, b.subscription_id, start * 1000, end * 1000)
        measured = int(measure(meter, [e for e in events if e.timestamp_ms < settled * 1000]))
        pending = int(measure(meter, [e for e in events if e.timestamp_ms >= settled * 1000]))
        if settled <= start:  # nothing settled yet: nothing to compare
            out.append(Line(b.subscription_id, b.meter_key, start, start, 0, 0, None, pending, end))
            continue
        try:
            total: int | None = engines.for_org(b.organization_id).meter_total(
                b.meter_id, b.customer_id, start, settled
            )
            error = None
        except TollwayError as exc:
            total, error = None, exc.detail
        out.append(
            Line(
                b.subscription_id, b.meter_key, start, settled, measured, total, error, pending, end
            )
        )
    return out
