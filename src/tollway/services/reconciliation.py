"""The reconciliation report as a publisher sees it: the usage ledger against Stripe's
meter totals per subscription, meter and billing period (the same comparison as
``tollway reconcile``), limited to the caller's subscriptions; and the audit log of
subscription state changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.principal import Principal
from tollway.store import subscribers_repo
from tollway.workers.reconcile import reconcile


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    subscription_id: str
    consumer_email: str
    api_name: str
    meter: str
    period_start: datetime
    settled_until: datetime
    ledger: int
    stripe: int | None
    pending: int
    error: str | None

    @property
    def outcome(self) -> str:
        """``agrees``, ``differs`` or ``unknown`` (Stripe could not be asked)."""
        if self.stripe is None:
            return "unknown" if self.error else "agrees"
        return "agrees" if self.stripe == self.ledger else "differs"


def report(ctx: AppContext, caller: Principal) -> list[ReconciliationRow]:
    """Ledger vs Stripe for the caller's billed subscriptions; usage newer than Stripe's
    processing lag is ``pending`` (not compared yet), the rest is settled and compared."""
    caller.require("publisher")
    with ctx.tx(read_only=True) as conn:
        mine = {str(r["id"]): r for r in subscribers_repo.subscribers(conn, caller, limit=10_000)}
    lines = reconcile(
        ctx.engine, ctx.billing.engines, clock=ctx.clock, lag_s=ctx.settings.stripe_meter_lag_s
    )
    rows = []
    for ln in lines:
        sub = mine.get(ln.subscription_id)
        if sub is None:
            continue
        rows.append(
            ReconciliationRow(
                subscription_id=ln.subscription_id,
                consumer_email=str(sub["consumer_email"]),
                api_name=str(sub["api_name"]),
                meter=ln.meter_key,
                period_start=datetime.fromtimestamp(ln.start, UTC),
                settled_until=datetime.fromtimestamp(ln.end, UTC),
                ledger=ln.ledger,
                stripe=ln.stripe,
                pending=ln.pending,
                error=ln.error,
            )
        )
    return rows


def audit_log(conn: Connection, caller: Principal, limit: int = 100) -> list[dict[str, Any]]:
    """Subscription state changes on the caller's APIs, newest first: when, who, from,
    to, cause and reason."""
    caller.require("publisher")
    return subscribers_repo.state_changes(conn, caller, limit=limit)
