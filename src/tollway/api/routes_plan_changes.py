"""Plans that sell: changing the plan of a live subscription (preview, now or at the
period end, history) and an API's default plan on sign-up."""

from __future__ import annotations

from fastapi import APIRouter

from tollway.api.deps import Caller, CallerOutsideTx, Conn, Ctx, Publisher
from tollway.api.plan_change_schemas import (
    DefaultPlanIn,
    DefaultPlanOut,
    PlanChangeIn,
    PlanChangeOut,
    PlanChangePreviewIn,
    PlanChangePreviewOut,
)
from tollway.pricing.changes import ProrationBehavior
from tollway.services import default_plans, plan_changes

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])
apis_router = APIRouter(prefix="/api/v1/apis", tags=["apis"])


@router.post("/{sub_id}/plan-change/preview", response_model=PlanChangePreviewOut)
def preview_plan_change(
    sub_id: str, body: PlanChangePreviewIn, ctx: Ctx, caller: CallerOutsideTx
) -> PlanChangePreviewOut:
    """What changing to another plan of the same API now would bill: Tollway's computation
    next to Stripe's ``create_preview`` for the change. Nothing changes."""
    out = plan_changes.preview(
        ctx,
        caller,
        sub_id,
        plan_id=body.plan_id,
        behavior=ProrationBehavior(body.proration_behavior),
    )
    return PlanChangePreviewOut.model_validate(out)


@router.post("/{sub_id}/plan-change", response_model=PlanChangeOut)
def change_plan(
    sub_id: str, body: PlanChangeIn, ctx: Ctx, caller: CallerOutsideTx
) -> PlanChangeOut:
    """Change an active subscription to another plan of the same API, now (prorated as
    Stripe prorates: flat fees by exact time, usage so far on the old plan's prices) or at
    the period end (no proration). The gateway applies the new plan's quotas and rate
    limits from the moment the change takes effect."""
    if body.when == "period_end":
        return PlanChangeOut.model_validate(
            plan_changes.schedule(ctx, caller, sub_id, plan_id=body.plan_id)
        )
    out = plan_changes.change(
        ctx,
        caller,
        sub_id,
        plan_id=body.plan_id,
        behavior=ProrationBehavior(body.proration_behavior),
    )
    return PlanChangeOut.model_validate(out)


@router.get("/{sub_id}/plan-changes", response_model=list[PlanChangeOut])
def plan_change_history(sub_id: str, conn: Conn, caller: Caller) -> list[PlanChangeOut]:
    """The subscription's plan changes, oldest first."""
    return [PlanChangeOut.model_validate(c) for c in plan_changes.history(conn, caller, sub_id)]


@apis_router.get("/{api_id}/default-plan", response_model=DefaultPlanOut)
def get_default_plan(api_id: str, conn: Conn, caller: Caller) -> DefaultPlanOut:
    """The free plan new applications are subscribed to (null: none)."""
    return DefaultPlanOut.model_validate(default_plans.get(conn, caller, api_id))


@apis_router.put("/{api_id}/default-plan", response_model=DefaultPlanOut)
def put_default_plan(
    api_id: str, body: DefaultPlanIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> DefaultPlanOut:
    """Name a free plan of the API that every new application is subscribed to at once
    (while the API is published), or clear it with null."""
    return DefaultPlanOut.model_validate(default_plans.put(ctx, conn, caller, api_id, body.plan_id))
