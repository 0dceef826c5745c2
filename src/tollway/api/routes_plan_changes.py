"""Plans that sell: changing the plan of a live subscription (preview, now or at the
period end, history), an API's default plan on sign-up, coupons and promotion codes."""

from __future__ import annotations

from fastapi import APIRouter

from tollway.api.deps import Caller, CallerOutsideTx, Conn, Ctx, Publisher
from tollway.api.plan_change_schemas import (
    CouponIn,
    CouponOut,
    DefaultPlanIn,
    DefaultPlanOut,
    PlanChangeIn,
    PlanChangeOut,
    PlanChangePreviewIn,
    PlanChangePreviewOut,
    RedeemedOut,
    RedeemIn,
)
from tollway.pricing.changes import ProrationBehavior
from tollway.services import coupons, default_plans, plan_changes

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])
apis_router = APIRouter(prefix="/api/v1/apis", tags=["apis"])
coupons_router = APIRouter(prefix="/api/v1/coupons", tags=["coupons"])


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


@coupons_router.post("", response_model=CouponOut, status_code=201)
def create_coupon(body: CouponIn, ctx: Ctx, conn: Conn, caller: Publisher) -> CouponOut:
    """A coupon (a Stripe coupon, with a promotion code if given) of the organization."""
    row = coupons.create(
        ctx, conn, caller, name=body.name, spec=body.coupon, promotion_code=body.promotion_code
    )
    return CouponOut.model_validate(row)


@coupons_router.get("", response_model=list[CouponOut])
def list_coupons(conn: Conn, caller: Publisher) -> list[CouponOut]:
    return [CouponOut.model_validate(c) for c in coupons.list_coupons(conn, caller)]


@router.post("/{sub_id}/coupon", response_model=RedeemedOut)
def redeem_coupon(sub_id: str, body: RedeemIn, ctx: Ctx, conn: Conn, caller: Caller) -> RedeemedOut:
    """Redeem a promotion code on a live subscription: its next invoices (and Tollway's
    estimate of them) are discounted."""
    out = coupons.redeem(ctx, conn, caller, sub_id, promotion_code=body.promotion_code)
    return RedeemedOut.model_validate(out)
