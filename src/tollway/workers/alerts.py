"""Usage alerts: every run compares each alert's subscription with its thresholds and
fires those reached, exactly once per threshold and billing period (the firing's unique
key decides), as an ``alert.triggered`` notification to whoever set the alert.

The usage counted is what the gateway counts: admitted calls in the ledger this period
(``quota``: against the plan's quota; ``budget``: their usage charges against the
subscription's budget, by the pricing core).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine

from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import TollwayError
from tollway.domain.periods import period_containing
from tollway.pricing.spec import parse_pricing
from tollway.pricing.spend import SpendRater
from tollway.store import (
    alerts_repo,
    budgets_repo,
    db,
    ledger,
    notify_repo,
    plans_repo,
    subscriptions_repo,
)

log = logging.getLogger(__name__)


def _measure(
    conn: Connection, alert: dict[str, Any], sub: dict[str, Any], plan: dict[str, Any], calls: int
) -> tuple[Decimal, Decimal, str] | None:
    """(value, limit, unit) of the alert's metric, None when there is nothing to compare
    (no quota on the plan, no budget on the subscription)."""
    if alert["metric"] == "quota":
        if plan["quota_limit"] is None:
            return None
        return Decimal(calls), Decimal(plan["quota_limit"]), "calls"
    budget = budgets_repo.get(conn, str(sub["id"]))
    if budget is None:
        return None
    spec = parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)
    rater = SpendRater(spec)
    if rater.only_meter is None:
        return None
    spent = rater.usage_cost({rater.only_meter: calls})
    return spent, Decimal(budget["amount"]), spec.currency


def evaluate(conn: Connection, now_clock: Clock) -> int:
    """Fire every threshold reached and not fired yet this period; returns how many."""
    now = now_clock.now()
    fired = 0
    for alert in alerts_repo.every_alert(conn):
        sub = subscriptions_repo.get_any(conn, str(alert["subscription_id"]))
        if sub["state"] != "active":
            continue
        plan = plans_repo.get_any(conn, str(sub["plan_id"]))
        period = period_containing(sub["billing_anchor"], str(plan["billing_interval"]), now)
        calls = ledger.calls_between(conn, str(sub["id"]), period.start_ms, period.end_ms)
        try:
            measured = _measure(conn, alert, sub, plan, calls)
        except TollwayError:
            continue
        if measured is None or measured[1] <= 0:
            continue
        value, limit, unit = measured
        percent = value * 100 / limit
        for threshold in sorted(int(t) for t in alert["thresholds"]):
            if percent < threshold:
                break
            if not alerts_repo.fire_once(
                conn, str(alert["id"]), threshold, period.start_ms, str(value), now
            ):
                continue
            fired += 1
            notify_repo.emit(
                conn,
                str(alert["created_by"]),
                "alert.triggered",
                {
                    "alert_id": alert["id"],
                    "subscription_id": sub["id"],
                    "metric": alert["metric"],
                    "threshold": threshold,
                    "value": f"{value} {unit}",
                    "limit": f"{limit} {unit}",
                    "period_start": period.start.isoformat(),
                    "period_end": period.end.isoformat(),
                },
                now,
            )
    return fired


class AlertWatcher:
    """Runs ``evaluate`` in its own transaction (the notification worker calls it)."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()

    def run_once(self) -> int:
        with db.transaction(self.engine) as conn:
            fired = evaluate(conn, self.clock)
        if fired:
            log.info("usage alerts fired", extra={"count": fired})
        return fired
