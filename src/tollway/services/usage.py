"""A consumer's usage and cost: per subscription, the current billing period's calls,
billable units per meter, quota used and left, cost so far and projected to the period's
end (the pricing core, from the usage ledger: what the invoice is made of), and time
series of calls per hour or day by status class. The REST API (``/api/v1/usage``) and
the portal's pages call these same functions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.billing.meters import meter_definition
from tollway.context import AppContext
from tollway.domain.errors import InvalidInput
from tollway.domain.periods import Period, period_containing
from tollway.domain.principal import Principal
from tollway.metering.usage_windows import measure
from tollway.pricing import estimate_current_period, quota_remaining
from tollway.pricing.spec import parse_pricing
from tollway.store import (
    ledger,
    plan_versions_repo,
    plans_repo,
    subscriptions_repo,
    usage_series_repo,
)

GRANULARITY_MS = {"hour": 3_600_000, "day": 86_400_000}
MAX_PERIODS = 12
MAX_POINTS = 2000
LIVE = ("active", "on_hold", "blocked")
MIN_PROJECTION_BASIS = timedelta(days=1)


def _projected_calls(calls: int, period: Period, now: datetime) -> int:
    if now >= period.end:
        return calls
    elapsed = (now - period.start).total_seconds()
    whole = (period.end - period.start).total_seconds()
    return int(calls * whole / elapsed) if elapsed > 0 else calls


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _own(conn: Connection, caller: Principal, sub_id: str) -> dict[str, Any]:
    """The subscription if the caller may see it (another consumer's is a 404)."""
    return subscriptions_repo.get(conn, sub_id, caller)


def current_period(ctx: AppContext, sub: dict[str, Any], plan: dict[str, Any]) -> Period:
    return period_containing(sub["billing_anchor"], str(plan["billing_interval"]), ctx.clock.now())


def summary(ctx: AppContext, conn: Connection, caller: Principal, sub_id: str) -> dict[str, Any]:
    """The subscription's current billing period: calls, units per meter, quota, limits
    and the cost so far and projected (each with its invoice lines)."""
    return _summary(ctx, conn, _own(conn, caller, sub_id))


def _summary(ctx: AppContext, conn: Connection, sub: dict[str, Any]) -> dict[str, Any]:
    plan = plans_repo.get_any(conn, str(sub["plan_id"]))
    plan = plan_versions_repo.subscription_plan(conn, str(sub["id"]), plan)  # its version
    spec = parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)
    period = current_period(ctx, sub, plan)
    now = ctx.clock.now()
    events = ledger.events_between(conn, str(sub["id"]), _ms(period.start), _ms(period.end))
    org = str(plan["organization_id"])
    units = {
        u.meter: measure(meter_definition(conn, org, u.meter), events) for u in spec.usage_prices
    }
    estimate = estimate_current_period(spec, spec.currency, units, period=period, as_of=now)
    calls = len(events)
    by_class: dict[str, int] = {}
    for e in events:
        key = f"{e.status // 100}xx"
        by_class[key] = by_class.get(key, 0) + 1
    quota = None
    if plan["quota_limit"] is not None:
        left = quota_remaining(int(plan["quota_limit"]), calls)
        quota = {"limit": plan["quota_limit"], "used": calls, "left": int(left or 0)}
        quota["mode"] = plan["quota_mode"]
    rate_limit = None
    if plan["rate_limit_count"] is not None:
        rate_limit = {"count": plan["rate_limit_count"], "per": plan["rate_limit_unit"]}
    projected = estimate.projected
    settled = now - period.start >= MIN_PROJECTION_BASIS
    return {
        "subscription_id": sub["id"],
        "api_id": sub["api_id"],
        "plan_id": sub["plan_id"],
        "state": sub["state"],
        "currency": spec.currency,
        "period_start": period.start,
        "period_end": period.end,
        "as_of": estimate.as_of,
        "calls": calls,
        "calls_by_status_class": dict(sorted(by_class.items())),
        "meters": [{"meter": m, "units": q} for m, q in units.items()],
        "cost_so_far": estimate.so_far.total,
        "cost_so_far_lines": [ln.to_dict() for ln in estimate.so_far.lines],
        # a projection from less than a day of use says little: none until then
        "projected_cost": (
            (projected.total if projected is not None else estimate.so_far.total)
            if settled
            else None
        ),
        "projected_calls": _projected_calls(calls, period, now) if settled else None,
        "quota": quota,
        "rate_limit": rate_limit,
    }


def overview(ctx: AppContext, conn: Connection, caller: Principal) -> dict[str, Any]:
    """Every live subscription of the caller's, and the totals per currency."""
    subs = [s for s in subscriptions_repo.of_consumer_with_names(conn, caller.user_id)]
    rows = [
        {**_summary(ctx, conn, s), "api_name": s["api_name"], "plan_name": s["plan_name"]}
        for s in subs
        if s["state"] in LIVE
    ]
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = totals.setdefault(
            r["currency"],
            {
                "currency": r["currency"],
                "calls": 0,
                "cost_so_far": Decimal(0),
                "projected_cost": Decimal(0),
            },
        )
        t["calls"] += r["calls"]
        t["cost_so_far"] += r["cost_so_far"]
        if r["projected_cost"] is None or t["projected_cost"] is None:
            t["projected_cost"] = None
        else:
            t["projected_cost"] += r["projected_cost"]
    return {"subscriptions": rows, "totals": list(totals.values())}


def series(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    sub_id: str,
    *,
    granularity: str = "day",
    periods: int = 1,
) -> dict[str, Any]:
    """Calls per ``granularity`` (hour or day) by status class (2xx, 4xx, 5xx…), from the
    start of the billing period ``periods - 1`` before the current one to its end."""
    if granularity not in GRANULARITY_MS:
        raise InvalidInput.at(("granularity",), "must be 'hour' or 'day'")
    if not 1 <= periods <= MAX_PERIODS:
        raise InvalidInput.at(("periods",), f"must be between 1 and {MAX_PERIODS}")
    sub = _own(conn, caller, sub_id)
    plan = plans_repo.get_any(conn, str(sub["plan_id"]))
    period = current_period(ctx, sub, plan)
    first = period
    for _ in range(periods - 1):
        first = period_containing(
            sub["billing_anchor"],
            str(plan["billing_interval"]),
            first.start - timedelta(microseconds=1),
        )
    step = GRANULARITY_MS[granularity]
    start_ms = _ms(first.start) - _ms(first.start) % step
    end_ms = min(_ms(period.end), start_ms + step * MAX_POINTS)
    counts = usage_series_repo.calls_by_bucket(conn, str(sub["id"]), start_ms, end_ms, step)
    classes = sorted({c for _, c, _ in counts})
    table: dict[int, dict[str, int]] = {}
    for bucket, cls, n in counts:
        table.setdefault(bucket, {})[cls] = n
    now_ms = _ms(ctx.clock.now())
    buckets = list(range(start_ms, min(end_ms, now_ms + step), step))
    return {
        "subscription_id": sub["id"],
        "granularity": granularity,
        "start": first.start,
        "end": period.end,
        "classes": classes,
        "points": [
            {"start_ms": b, "calls": {c: table.get(b, {}).get(c, 0) for c in classes}}
            for b in buckets
        ],
    }
