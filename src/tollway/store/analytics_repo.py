"""Publisher analytics over the usage ledger, aggregated in SQL on SQLite and PostgreSQL:
calls, 4xx and 5xx errors and latency (sum and maximum) per UTC time bucket (hour, day or
calendar month) and group (API, operation, plan, consumer or application), and the top
consumers of a time range.

Whole hours of a range come from the hourly rollup ``usage_rollup_hourly`` (kept exactly
in step with the ledger by ``store.usage_rollup``), the partial hours at a range's ends
(when it does not start or end on an hour) from the ledger's events, through the index
``ix_usage_events_org_time`` (organization, time); one aggregate sums both. Buckets are
computed in SQL from each row's hour: days by integer arithmetic (UTC days start at
multiples of 86,400,000 ms since the epoch), months with each database's own calendar
function, in UTC; a day or month is the sum of its hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    case,
    cast,
    extract,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from tollway.domain.principal import Principal
from tollway.store.billing_tables import billing_subscriptions
from tollway.store.rollup_tables import usage_rollup_hourly
from tollway.store.subscriptions_repo import visible
from tollway.store.tables import (
    api_operations,
    apis,
    applications,
    plans,
    subscriptions,
    usage_events,
    users,
)
from tollway.store.usage_rollup import HOUR_MS as HOUR_MS
from tollway.store.usage_rollup import KEY, MEASURES, NO_OPERATION

DAY_MS = 86_400_000
GRANULARITIES = ("hour", "day", "month")
GROUPS = ("api", "operation", "plan", "consumer", "application")

u = usage_events.c
r = usage_rollup_hourly.c
FACT_COLUMNS = (*KEY, *MEASURES)  # what the rollup holds per hour, and one event adds


@dataclass(frozen=True, slots=True)
class Scope:
    """Which ledger events count: one organization's (None: every organization, for an
    admin) in ``[start_ms, end_ms)``, optionally narrowed to one API, plan, consumer,
    application or operation."""

    organization_id: str | None
    start_ms: int
    end_ms: int
    api_id: str | None = None
    plan_id: str | None = None
    consumer_id: str | None = None
    application_id: str | None = None
    operation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """What one bucket (or one consumer) adds up to."""

    key: str | None  # the group's id (None: no group, or an event without an operation)
    start_ms: int  # the bucket's start (0 when not bucketed)
    calls: int
    errors_4xx: int
    errors_5xx: int
    latency_sum_ms: int
    latency_max_ms: int


def _bucket(dialect: str, granularity: str, hour_ms: ColumnElement[Any]) -> ColumnElement[Any]:
    """The UTC bucket of an hour (days and months start on hour boundaries)."""
    if granularity == "hour":
        return hour_ms
    if granularity == "day":
        return hour_ms - hour_ms % literal_column(str(DAY_MS))
    if granularity != "month":
        raise ValueError(f"unknown granularity {granularity!r}")
    seconds = hour_ms / literal_column("1000")
    if dialect == "sqlite":
        month = func.strftime("%s", seconds, "unixepoch", "start of month")
        return cast(month, BigInteger) * literal_column("1000")
    utc = func.timezone("UTC", func.to_timestamp(seconds))
    return cast(extract("epoch", func.date_trunc("month", utc)), BigInteger) * literal_column(
        "1000"
    )


def _where_given(query: Any, wanted: dict[Any, str | None]) -> Any:
    """``query`` narrowed to ``column == value`` for every value that is given."""
    for column, value in wanted.items():
        if value is not None:
            query = query.where(column == value)
    return query


def _narrowed(query: Any, columns: Any, scope: Scope) -> Any:
    return _where_given(
        query,
        {
            columns.organization_id: scope.organization_id,
            columns.api_id: scope.api_id,
            columns.consumer_id: scope.consumer_id,
            columns.application_id: scope.application_id,
            columns.operation_id: scope.operation_id,
        },
    )


def _rollup_rows(scope: Scope, start_ms: int, end_ms: int) -> Any:
    query = select(*(r[name] for name in FACT_COLUMNS)).where(
        r.hour_ms >= start_ms, r.hour_ms < end_ms
    )
    return _narrowed(query, r, scope)


def _event_rows(scope: Scope, start_ms: int, end_ms: int) -> Any:
    """Each event as a rollup row of one call."""
    status = u.status
    query = select(
        u.organization_id,
        (u.timestamp_ms - u.timestamp_ms % literal_column(str(HOUR_MS))).label("hour_ms"),
        u.subscription_id,
        func.coalesce(u.operation_id, NO_OPERATION).label("operation_id"),
        u.api_id,
        u.application_id,
        u.consumer_id,
        literal_column("1").label("calls"),
        case((and_(status >= 400, status < 500), 1), else_=0).label("errors_4xx"),
        case((status >= 500, 1), else_=0).label("errors_5xx"),
        u.latency_ms.label("latency_ms_sum"),
        u.latency_ms.label("latency_ms_max"),
    ).where(u.timestamp_ms >= start_ms, u.timestamp_ms < end_ms)
    return _narrowed(query, u, scope)


def _facts(scope: Scope, rollup: bool) -> Any:
    """The scope as rollup rows: whole hours from the rollup, the partial hours at the
    range's ends from the ledger's events (all of it from the events when ``rollup`` is
    false: what the rollup must always agree with)."""
    first = -(-scope.start_ms // HOUR_MS) * HOUR_MS
    last = scope.end_ms - scope.end_ms % HOUR_MS
    parts: list[Any] = []
    edges = [(scope.start_ms, scope.end_ms)]
    if rollup and first < last:
        parts.append(_rollup_rows(scope, first, last))
        edges = [(scope.start_ms, first), (last, scope.end_ms)]
    parts += [_event_rows(scope, lo, hi) for lo, hi in edges if lo < hi]
    if not parts:  # an empty range
        parts = [_event_rows(scope, scope.start_ms, scope.start_ms)]
    if len(parts) == 1:
        return parts[0].subquery("facts")
    return union_all(*parts).subquery("facts")


def _per_subscription(facts: Any, dialect: str, granularity: str, group_by: str | None) -> Any:
    """The rows summed per bucket and subscription (and group, unless it is the plan), named
    like the rows: the join to the subscriptions for a plan then meets a few rows per
    subscription instead of one per hour and operation. (A bucket's start is its own
    bucket's start, so the outer query buckets them again unchanged.)"""
    f = facts.c
    bucket = _bucket(dialect, granularity, f.hour_ms)
    keys: list[Any] = [f.subscription_id]
    group = None if group_by == "plan" else _group_column(facts, group_by)
    if group is not None:
        keys.append(group)
    sums = [func.sum(f[name]).label(name) for name in MEASURES if name != "latency_ms_max"]
    query = select(
        bucket.label("hour_ms"), *keys, *sums, func.max(f.latency_ms_max).label("latency_ms_max")
    )
    return query.select_from(facts).group_by(bucket, *keys).subquery("per_subscription")


GROUP_COLUMNS = {
    "api": "api_id",
    "operation": "operation_id",
    "consumer": "consumer_id",
    "application": "application_id",
}


def _group_column(facts: Any, group_by: str | None) -> ColumnElement[Any] | None:
    if group_by is None:
        return None
    if group_by == "plan":
        return subscriptions.c.plan_id
    if group_by not in GROUP_COLUMNS:
        raise ValueError(f"unknown group {group_by!r}")
    column: ColumnElement[Any] = facts.c[GROUP_COLUMNS[group_by]]
    return column


def _measures(facts: Any) -> list[ColumnElement[Any]]:
    f = facts.c
    return [
        func.sum(f.calls).label("calls"),
        func.sum(f.errors_4xx).label("e4"),
        func.sum(f.errors_5xx).label("e5"),
        func.sum(f.latency_ms_sum).label("lat_sum"),
        func.max(f.latency_ms_max).label("lat_max"),
    ]


def _from_facts(query: Any, facts: Any, scope: Scope, needs_plan: bool) -> Any:
    query = query.select_from(facts)
    if needs_plan or scope.plan_id is not None:
        query = query.join(subscriptions, subscriptions.c.id == facts.c.subscription_id)
    if scope.plan_id is not None:
        query = query.where(subscriptions.c.plan_id == scope.plan_id)
    return query


def _counts(row: Any, key: Any, start_ms: Any) -> Counts:
    return Counts(
        key=None if key is None or key == NO_OPERATION else str(key),
        start_ms=int(start_ms or 0),
        calls=int(row.calls),
        errors_4xx=int(row.e4 or 0),
        errors_5xx=int(row.e5 or 0),
        latency_sum_ms=int(row.lat_sum or 0),
        latency_max_ms=int(row.lat_max or 0),
    )


def usage(
    conn: Connection, scope: Scope, granularity: str, group_by: str | None, *, rollup: bool = True
) -> list[Counts]:
    """One ``Counts`` per non-empty (bucket, group), by bucket then group."""
    facts = _facts(scope, rollup)
    if group_by == "plan" or scope.plan_id is not None:
        facts = _per_subscription(facts, conn.dialect.name, granularity, group_by)
    bucket = _bucket(conn.dialect.name, granularity, facts.c.hour_ms).label("bucket")
    group = _group_column(facts, group_by)
    key = (group if group is not None else literal_column("NULL")).label("grp")
    query = _from_facts(select(bucket, key, *_measures(facts)), facts, scope, group_by == "plan")
    grouping: list[Any] = [literal_column("bucket")]
    if group is not None:
        grouping.append(group)
    rows = conn.execute(query.group_by(*grouping)).all()
    return sorted(
        (_counts(r, r.grp, r.bucket) for r in rows), key=lambda c: (c.start_ms, c.key or "")
    )


def top_consumers(
    conn: Connection, scope: Scope, limit: int, *, rollup: bool = True
) -> list[Counts]:
    """The consumers with the most calls in the scope, most first (ties by id)."""
    facts = _facts(scope, rollup)
    consumer = facts.c.consumer_id
    query = _from_facts(select(consumer, *_measures(facts)), facts, scope, False)
    rows = conn.execute(
        query.group_by(consumer).order_by(func.sum(facts.c.calls).desc(), consumer).limit(limit)
    ).all()
    return [_counts(r, r.consumer_id, 0) for r in rows]


def labels(conn: Connection, group_by: str, keys: Sequence[str]) -> dict[str, str]:
    """A readable name for each group key: API and plan names, ``METHOD /path`` of an
    operation, a consumer's email, an application's name (unknown ids keep their id)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    if group_by == "operation":
        ops = api_operations.c
        rows = conn.execute(
            select(ops.id, ops.method, ops.path_template).where(ops.id.in_(wanted))
        ).all()
        return {r.id: f"{r.method} {r.path_template}" for r in rows}
    sources: dict[str, Any] = {
        "api": (apis.c.id, apis.c.name),
        "plan": (plans.c.id, plans.c.name),
        "consumer": (users.c.id, users.c.email),
        "application": (applications.c.id, applications.c.name),
    }
    id_col, name_col = sources[group_by]
    return {
        str(r[0]): str(r[1])
        for r in conn.execute(select(id_col, name_col).where(id_col.in_(wanted))).all()
    }


def billed_subscriptions(
    conn: Connection, principal: Principal, scope: Scope
) -> list[dict[str, Any]]:
    """The subscriptions whose revenue counts in the scope (never the ones still on hold,
    which were never paid for), with their plan's billing calendar and currency and,
    when Stripe bills them, the Stripe subscription and customer ids."""
    s, p, b = subscriptions.c, plans.c, billing_subscriptions.c
    query = (
        select(
            s.id,
            s.api_id,
            s.plan_id,
            s.state,
            s.billing_anchor,
            s.updated_at,
            p.organization_id,
            p.currency,
            p.billing_interval,
            p.billing_interval_count,
            b.stripe_subscription_id,
            b.customer_id,
        )
        .join(plans, p.id == s.plan_id)
        .outerjoin(billing_subscriptions, b.subscription_id == s.id)
        .where(visible(principal), s.state != "on_hold")
        .order_by(s.id)
    )
    query = _where_given(
        query,
        {
            p.organization_id: scope.organization_id,
            s.api_id: scope.api_id,
            s.plan_id: scope.plan_id,
            s.consumer_id: scope.consumer_id,
            s.application_id: scope.application_id,
        },
    )
    return [dict(r) for r in conn.execute(query).mappings()]
