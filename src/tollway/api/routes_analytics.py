"""The publisher analytics API: calls, errors and latency over time per API, operation,
plan, consumer or application; the top consumers; revenue per plan and API per period
(from Stripe invoices or Tollway's estimate, labelled). Publishers see their
organization; an admin sees every organization (or the one named); consumers get 403."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from tollway.api.deps import Caller, Conn, Ctx
from tollway.api.schemas import Out
from tollway.services import analytics, revenue

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Granularity = Literal["hour", "day", "month"]
GroupBy = Literal["api", "operation", "plan", "consumer", "application"]
Source = Literal["stripe_invoices", "tollway_estimate"]
_Id = Annotated[str | None, Query(max_length=64)]
DEFAULT_DAYS = 30


def analytics_query(
    ctx: Ctx,
    start: Annotated[
        datetime | None,
        Query(alias="from", description="Start (inclusive); default: 30 days before `to`"),
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="End (exclusive); default: now")
    ] = None,
    granularity: Annotated[Granularity, Query(description="UTC time buckets")] = "day",
    organization_id: Annotated[
        str | None, Query(max_length=64, description="Admins only: one organization")
    ] = None,
    api_id: _Id = None,
    plan_id: _Id = None,
    consumer_id: _Id = None,
    application_id: _Id = None,
    operation_id: _Id = None,
) -> analytics.Query:
    to = end or ctx.clock.now()
    return analytics.Query(
        start=start or to - timedelta(days=DEFAULT_DAYS),
        end=to,
        granularity=granularity,
        organization_id=organization_id,
        api_id=api_id,
        plan_id=plan_id,
        consumer_id=consumer_id,
        application_id=application_id,
        operation_id=operation_id,
    )


AnalyticsQuery = Annotated[analytics.Query, Depends(analytics_query)]


class FiguresOut(Out):
    calls: int
    errors_4xx: int
    errors_5xx: int
    latency_avg_ms: Decimal | None
    latency_max_ms: int | None


class PointOut(FiguresOut):
    start: datetime


class GroupOut(Out):
    key: str | None
    label: str
    totals: FiguresOut
    points: list[PointOut]


class UsageOut(Out):
    from_: datetime = Field(alias="from")
    to: datetime
    granularity: Granularity
    group_by: GroupBy | None
    buckets: list[datetime]
    totals: FiguresOut
    groups: list[GroupOut]


class ConsumerOut(FiguresOut):
    consumer_id: str
    email: str


class TopConsumersOut(Out):
    from_: datetime = Field(alias="from")
    to: datetime
    consumers: list[ConsumerOut]


class RevenueRowOut(Out):
    period_start: datetime
    api_id: str
    api_name: str
    plan_id: str
    plan_name: str
    currency: str
    amount: Decimal
    source: Source
    items: int


class RevenueTotalOut(Out):
    currency: str
    source: Source
    amount: Decimal


class RevenueOut(Out):
    from_: datetime = Field(alias="from")
    to: datetime
    granularity: Granularity
    rows: list[RevenueRowOut]
    totals: list[RevenueTotalOut]


@router.get("/usage", response_model=UsageOut)
def usage(
    conn: Conn,
    caller: Caller,
    query: AnalyticsQuery,
    group_by: Annotated[GroupBy | None, Query(description="One series per group")] = None,
) -> UsageOut:
    """Calls, 4xx and 5xx errors, average and maximum latency (ms) per UTC hour, day or
    month, in total and per group (most calls first; points only for buckets with calls).
    At most 10,000 buckets."""
    return UsageOut.model_validate(analytics.usage(conn, caller, query, group_by))


@router.get("/top-consumers", response_model=TopConsumersOut)
def top_consumers(
    conn: Conn,
    caller: Caller,
    query: AnalyticsQuery,
    limit: Annotated[int, Query(ge=1, le=analytics.MAX_TOP)] = 10,
) -> TopConsumersOut:
    """The consumers with the most calls in the range, most first."""
    body = analytics.top_consumers(conn, caller, query, limit)
    return TopConsumersOut.model_validate(body)


@router.get("/revenue", response_model=RevenueOut)
def revenue_per_period(ctx: Ctx, conn: Conn, caller: Caller, query: AnalyticsQuery) -> RevenueOut:
    """Revenue per period, API and plan: Stripe's paid and open invoices for the
    subscriptions Stripe bills (by invoice date), Tollway's estimate of each billing
    period starting in the range for the others; each figure says its `source`. Amounts
    are decimal strings in `currency`."""
    body = revenue.revenue(ctx, conn, caller, query)
    return RevenueOut.model_validate(body)
