"""The consumer usage API: the current billing period's usage and cost per subscription
(and in total), and time series of calls per hour or day by status class — what the
portal's usage page shows, for consumers' own dashboards and alerts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from tollway.api.deps import Caller, Conn, Ctx
from tollway.api.schemas import Out
from tollway.services import usage

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


class QuotaOut(Out):
    limit: int
    used: int
    left: int
    mode: str


class RateLimitOut(Out):
    count: int
    per: str


class MeterUnitsOut(Out):
    meter: str
    units: Decimal


class UsageSummaryOut(Out):
    subscription_id: str
    api_id: str
    plan_id: str
    state: str
    currency: str
    period_start: datetime
    period_end: datetime
    as_of: datetime
    calls: int
    calls_by_status_class: dict[str, int]
    meters: list[MeterUnitsOut]
    cost_so_far: Decimal
    cost_so_far_lines: list[dict[str, Any]]
    projected_cost: Decimal | None = Field(
        description="cost at the period's end at the pace so far; null during its first day"
    )
    projected_calls: int | None
    quota: QuotaOut | None
    rate_limit: RateLimitOut | None


class NamedUsageSummaryOut(UsageSummaryOut):
    api_name: str
    plan_name: str


class UsageTotalOut(Out):
    currency: str
    calls: int
    cost_so_far: Decimal
    projected_cost: Decimal | None


class UsageOverviewOut(Out):
    subscriptions: list[NamedUsageSummaryOut]
    totals: list[UsageTotalOut]


class UsagePointOut(Out):
    start_ms: int
    calls: dict[str, int]


class UsageSeriesOut(Out):
    subscription_id: str
    granularity: str
    start: datetime
    end: datetime
    classes: list[str]
    points: list[UsagePointOut]


@router.get("", response_model=UsageOverviewOut)
def overview(ctx: Ctx, conn: Conn, caller: Caller) -> UsageOverviewOut:
    """Your live subscriptions' current billing periods, and totals per currency. Costs
    are before tax, from the usage ledger and the pricing core (what invoices use)."""
    return UsageOverviewOut.model_validate(usage.overview(ctx, conn, caller))


@router.get("/subscriptions/{sub_id}", response_model=UsageSummaryOut)
def subscription_summary(sub_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> UsageSummaryOut:
    """The subscription's current billing period: calls, billable units per meter, quota
    used and left, cost so far and projected to the period's end."""
    return UsageSummaryOut.model_validate(usage.summary(ctx, conn, caller, sub_id))


@router.get("/subscriptions/{sub_id}/series", response_model=UsageSeriesOut)
def subscription_series(
    sub_id: str,
    ctx: Ctx,
    conn: Conn,
    caller: Caller,
    granularity: Literal["hour", "day"] = "day",
    periods: Annotated[int, Query(ge=1, le=usage.MAX_PERIODS)] = 1,
) -> UsageSeriesOut:
    """Calls per hour or day by status class (``2xx``, ``4xx``…) from the start of the
    billing period ``periods - 1`` before the current one."""
    return UsageSeriesOut.model_validate(
        usage.series(ctx, conn, caller, sub_id, granularity=granularity, periods=periods)
    )
