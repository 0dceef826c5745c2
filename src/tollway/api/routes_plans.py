"""Subscription plans and meters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select

from tollway.api.deps import After, Caller, Conn, Ctx, Limit, Publisher
from tollway.api.schemas import MeterIn, MeterOut, PageOut, PlanCreateIn, PlanOut, PlanUpdateIn
from tollway.metering.meters import DEFAULT_METER
from tollway.services import billing
from tollway.store import plans_repo
from tollway.store.rows import paginate
from tollway.store.tables import plans

router = APIRouter(prefix="/api/v1", tags=["plans"])


def plan_out(row: dict[str, Any]) -> PlanOut:
    rate = (
        {"count": row["rate_limit_count"], "per": row["rate_limit_unit"]}
        if row["rate_limit_count"] is not None
        else None
    )
    quota = (
        {"limit": row["quota_limit"], "mode": row["quota_mode"]}
        if row["quota_limit"] is not None
        else None
    )
    return PlanOut.model_validate(
        {**row, "rate_limit": rate, "quota": quota, "free": plans_repo.is_free(row)}
    )


def _limits(body: PlanCreateIn | PlanUpdateIn, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "rate_limit" in fields:
        out["rate_limit_count"] = body.rate_limit.count if body.rate_limit else None
        out["rate_limit_unit"] = body.rate_limit.per if body.rate_limit else None
    if "quota" in fields:
        out["quota_limit"] = body.quota.limit if body.quota else None
        out["quota_mode"] = body.quota.mode if body.quota else "hard"
    return out


@router.post("/plans", response_model=PlanOut, status_code=status.HTTP_201_CREATED)
def create_plan(body: PlanCreateIn, ctx: Ctx, conn: Conn, caller: Publisher) -> PlanOut:
    spec = plans_repo.validate_pricing(conn, caller.organization_id, body.pricing, body.currency)
    values = {
        "name": body.name,
        "description": body.description,
        "currency": body.currency.upper(),
        "billing_interval": body.billing_interval,
        "pricing": spec.to_dict(),
        **_limits(body, {"rate_limit", "quota"}),
    }
    return plan_out(
        plans_repo.create(
            conn, organization_id=caller.organization_id, values=values, now=ctx.clock.now()
        )
    )


@router.get("/plans", response_model=PageOut[PlanOut])
def list_plans(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[PlanOut]:
    page = paginate(
        conn, select(plans).where(plans_repo.visible(caller)), plans.c.id, limit=limit, after=after
    )
    return PageOut[PlanOut].of(page, [plan_out(r) for r in page.items])


@router.get("/plans/{plan_id}", response_model=PlanOut)
def get_plan(plan_id: str, conn: Conn, caller: Caller) -> PlanOut:
    return plan_out(plans_repo.get(conn, plan_id, caller))


@router.patch("/plans/{plan_id}", response_model=PlanOut)
def update_plan(
    plan_id: str, body: PlanUpdateIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> PlanOut:
    """Change a plan. A new price applies to new subscriptions (Stripe gets a new price)."""
    plan = plans_repo.get(conn, plan_id, caller, manage=True)
    fields = body.model_fields_set
    values: dict[str, Any] = {
        k: getattr(body, k)
        for k in ("name", "description")
        if k in fields and getattr(body, k) is not None
    }
    if "pricing" in fields and body.pricing is not None:
        values["pricing"] = plans_repo.validate_pricing(
            conn, plan["organization_id"], body.pricing, plan["currency"]
        ).to_dict()
    values.update(_limits(body, fields))
    if values:
        plans_repo.update_fields(conn, plan_id, values, ctx.clock.now())
    if "pricing" in values and billing.is_configured(ctx):
        # A new price at the provider for new subscriptions; existing ones move at renewal.
        for api_id in plans_repo.enabled_api_ids(conn, plan_id):
            billing.plan_enabled(ctx, conn, api_id, plan_id)
    return plan_out(plans_repo.get(conn, plan_id, caller, manage=True))


@router.delete("/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_plan(plan_id: str, conn: Conn, caller: Publisher) -> None:
    """Delete an unused plan; a plan with subscriptions can only be retired (409)."""
    plans_repo.get(conn, plan_id, caller, manage=True)
    plans_repo.delete_plan(conn, plan_id)


@router.post("/plans/{plan_id}/retire", response_model=PlanOut)
def retire_plan(plan_id: str, ctx: Ctx, conn: Conn, caller: Publisher) -> PlanOut:
    plans_repo.get(conn, plan_id, caller, manage=True)
    plans_repo.retire(conn, plan_id, ctx.clock.now())
    return plan_out(plans_repo.get(conn, plan_id, caller, manage=True))


@router.post("/meters", response_model=MeterOut, status_code=status.HTTP_201_CREATED)
def create_meter(body: MeterIn, ctx: Ctx, conn: Conn, caller: Publisher) -> MeterOut:
    return MeterOut.model_validate(
        plans_repo.create_meter(conn, caller.organization_id, body.definition, ctx.clock.now())
    )


@router.get("/meters", response_model=list[MeterOut])
def list_meters(conn: Conn, caller: Publisher) -> list[MeterOut]:
    builtin = MeterOut(
        id="mtr_builtin_requests",
        key=DEFAULT_METER.key,
        definition=DEFAULT_METER.to_dict(),
        created_at=datetime(1970, 1, 1, tzinfo=UTC),
    )
    return [builtin] + [
        MeterOut.model_validate(r) for r in plans_repo.list_meters(conn, caller.organization_id)
    ]
