"""Subscription plans and meters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from tollway.api.deps import After, Caller, Conn, Ctx, Limit, Publisher
from tollway.api.schemas import (
    MeterIn,
    MeterOut,
    PageOut,
    PlanCreateIn,
    PlanOut,
    PlanUpdateIn,
    QuotaIn,
    RateLimitIn,
)
from tollway.services import plans
from tollway.services.plans import Quota, RateLimit

router = APIRouter(prefix="/api/v1", tags=["plans"])


def _rate(body: RateLimitIn | None) -> RateLimit | None:
    return None if body is None else RateLimit(body.count, body.per)


def _quota(body: QuotaIn | None) -> Quota | None:
    return None if body is None else Quota(body.limit, body.mode)


@router.post("/plans", response_model=PlanOut, status_code=status.HTTP_201_CREATED)
def create_plan(body: PlanCreateIn, ctx: Ctx, conn: Conn, caller: Publisher) -> PlanOut:
    row = plans.create_plan(
        ctx,
        conn,
        caller,
        name=body.name,
        description=body.description,
        currency=body.currency,
        billing_interval=body.billing_interval,
        billing_interval_count=body.billing_interval_count,
        trial_days=body.trial_days,
        pricing=body.pricing,
        rate_limit=_rate(body.rate_limit),
        quota=_quota(body.quota),
    )
    return PlanOut.model_validate(row)


@router.get("/plans", response_model=PageOut[PlanOut])
def list_plans(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[PlanOut]:
    page = plans.list_plans(conn, caller, limit=limit, after=after)
    return PageOut[PlanOut].of(page, [PlanOut.model_validate(r) for r in page.items])


@router.get("/plans/{plan_id}", response_model=PlanOut)
def get_plan(plan_id: str, conn: Conn, caller: Caller) -> PlanOut:
    return PlanOut.model_validate(plans.get_plan(conn, caller, plan_id))


@router.patch("/plans/{plan_id}", response_model=PlanOut)
def update_plan(
    plan_id: str, body: PlanUpdateIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> PlanOut:
    """Change a plan. A new price applies to new subscriptions (Stripe gets a new price)."""
    changes: dict[str, Any] = {
        k: getattr(body, k)
        for k in ("name", "description", "pricing")
        if k in body.model_fields_set
    }
    if "rate_limit" in body.model_fields_set:
        changes["rate_limit"] = _rate(body.rate_limit)
    if "quota" in body.model_fields_set:
        changes["quota"] = _quota(body.quota)
    return PlanOut.model_validate(plans.update_plan(ctx, conn, caller, plan_id, changes))


@router.delete("/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_plan(plan_id: str, conn: Conn, caller: Publisher) -> None:
    """Delete an unused plan; a plan with subscriptions can only be retired (409)."""
    plans.delete_plan(conn, caller, plan_id)


@router.post("/plans/{plan_id}/retire", response_model=PlanOut)
def retire_plan(plan_id: str, ctx: Ctx, conn: Conn, caller: Publisher) -> PlanOut:
    return PlanOut.model_validate(plans.retire_plan(ctx, conn, caller, plan_id))


@router.post("/meters", response_model=MeterOut, status_code=status.HTTP_201_CREATED)
def create_meter(body: MeterIn, ctx: Ctx, conn: Conn, caller: Publisher) -> MeterOut:
    return MeterOut.model_validate(plans.create_meter(ctx, conn, caller, body.definition))


@router.get("/meters", response_model=list[MeterOut])
def list_meters(conn: Conn, caller: Publisher) -> list[MeterOut]:
    return [MeterOut.model_validate(r) for r in plans.list_meters(conn, caller)]
