"""Revenue per plan and API per period, for the publisher's analytics.

Each subscription counts once, from one source, named on every figure:

- ``stripe_invoices``: a subscription Stripe bills (the organization's Stripe is
  connected and the subscription has a Stripe subscription): its paid and open Stripe
  invoices, each in the period of the invoice's date.
- ``tollway_estimate``: any other subscription: Tollway's estimate of each billing period
  that starts in the range (the pricing core rating the ledger's usage, with the
  subscription's coupon), in the period of the billing period's start. A period still
  running is estimated from its usage so far.

Subscriptions still on hold (never paid for) count nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.billing import invoices as billing_invoices
from tollway.context import AppContext
from tollway.domain.money import from_minor
from tollway.domain.periods import periods_between
from tollway.domain.principal import Principal
from tollway.services.analytics import Query, bucket_start, scope
from tollway.store import analytics_repo, billing_repo
from tollway.store.analytics_repo import Scope

STRIPE = "stripe_invoices"
ESTIMATE = "tollway_estimate"
INVOICED = ("paid", "open")
_LIVE = ("active", "blocked")

#: (bucket start ms, api id, plan id, currency, source) -> (amount, items)
_Key = tuple[int, str, str, str, str]


def _seconds(ms: int) -> int:
    return ms // 1000


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _estimates(
    ctx: AppContext, conn: Connection, sub: dict[str, Any], sc: Scope, granularity: str
) -> Iterator[tuple[_Key, Decimal]]:
    """Tollway's estimate of each of the subscription's billing periods starting in the
    scope's range (and before the subscription ended)."""
    alive_until = ctx.clock.now() if sub["state"] in _LIVE else sub["updated_at"]
    end = min(_at(sc.end_ms), alive_until)
    start = max(_at(sc.start_ms), sub["billing_anchor"])
    if start >= end:
        return
    row = billing_repo.load_sub(conn, str(sub["id"]))
    interval, count = str(sub["billing_interval"]), int(sub["billing_interval_count"])
    for period in periods_between(sub["billing_anchor"], interval, start, end, count=count):
        if period.start < start:
            continue
        figures = billing_invoices.estimate(
            conn, row, _seconds(period.start_ms), _seconds(period.end_ms)
        )
        bucket = bucket_start(period.start_ms, granularity)
        key = (bucket, str(sub["api_id"]), str(sub["plan_id"]), figures["currency"], ESTIMATE)
        yield key, Decimal(figures["total"])


def _invoiced(
    ctx: AppContext, subs: list[dict[str, Any]], sc: Scope, granularity: str
) -> Iterator[tuple[_Key, Decimal]]:
    """The paid and open Stripe invoices of Stripe-billed subscriptions, dated in range."""
    by_stripe_id = {str(s["stripe_subscription_id"]): s for s in subs}
    customers = sorted({(str(s["organization_id"]), str(s["customer_id"])) for s in subs})
    for org, customer in customers:
        for inv in ctx.billing.engines.for_org(org).list_invoices(customer, limit=100):
            sub = by_stripe_id.get(inv.subscription_id or "")
            created_ms = inv.created * 1000
            if sub is None or inv.status not in INVOICED:
                continue
            if not sc.start_ms <= created_ms < sc.end_ms:
                continue
            bucket = bucket_start(created_ms, granularity)
            currency = inv.currency.upper()
            key = (bucket, str(sub["api_id"]), str(sub["plan_id"]), currency, STRIPE)
            yield key, from_minor(inv.total_minor, currency)


def revenue(ctx: AppContext, conn: Connection, caller: Principal, query: Query) -> dict[str, Any]:
    """Revenue per period, API and plan (each figure with its source and currency), and
    the totals per currency and source."""
    sc = scope(conn, caller, query)
    subs = analytics_repo.billed_subscriptions(conn, caller, sc)
    connected = {
        org
        for org in {str(s["organization_id"]) for s in subs}
        if billing_repo.stripe_configured(conn, org)
    }
    by_stripe = [
        s for s in subs if s["stripe_subscription_id"] and s["organization_id"] in connected
    ]
    stripe_ids = {s["id"] for s in by_stripe}
    sums: dict[_Key, list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    found = list(_invoiced(ctx, by_stripe, sc, query.granularity))
    for sub in subs:
        if sub["id"] not in stripe_ids:
            found.extend(_estimates(ctx, conn, sub, sc, query.granularity))
    for key, amount in found:
        sums[key][0] += amount
        sums[key][1] += 1
    names = {
        "api": analytics_repo.labels(conn, "api", [k[1] for k in sums]),
        "plan": analytics_repo.labels(conn, "plan", [k[2] for k in sums]),
    }
    rows = [
        {
            "period_start": _at(bucket),
            "api_id": api_id,
            "api_name": names["api"].get(api_id, api_id),
            "plan_id": plan_id,
            "plan_name": names["plan"].get(plan_id, plan_id),
            "currency": currency,
            "amount": amount,
            "source": source,
            "items": items,
        }
        for (bucket, api_id, plan_id, currency, source), (amount, items) in sorted(sums.items())
    ]
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[(r["currency"], r["source"])] += r["amount"]
    return {
        "from": query.start,
        "to": query.end,
        "granularity": query.granularity,
        "rows": rows,
        "totals": [
            {"currency": c, "source": s, "amount": a} for (c, s), a in sorted(totals.items())
        ],
    }
