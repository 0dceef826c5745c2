"""Plan versions: ``GET/POST /api/v1/plans/{id}/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from tollway.api.deps import Conn, Ctx, Publisher
from tollway.api.schemas import QuotaIn, RateLimitIn
from tollway.services import plan_versions, plans
from tollway.services.plans import Quota, RateLimit

router = APIRouter(prefix="/api/v1/plans/{plan_id}/versions", tags=["plans"])


class PlanVersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pricing: dict[str, Any] = Field(description="The new version's pricing (as on the plan)")
    rate_limit: RateLimitIn | None = Field(
        None, description="The new version's rate limit (absent: the latest version's)"
    )
    quota: QuotaIn | None = Field(
        None, description="The new version's quota (absent: the latest version's)"
    )
    existing_subscribers: Literal["stay", "move_at_renewal"] = Field(
        description="stay: subscribers keep their version (grandfathered); "
        "move_at_renewal: they move to this version at their next renewal"
    )


class PlanVersionOut(BaseModel):
    version: int
    label: str
    latest: bool
    pricing: dict[str, Any]
    rate_limit: dict[str, Any] | None
    quota: dict[str, Any] | None
    existing_subscribers: Literal["stay", "move_at_renewal"]
    subscribers: int = Field(description="Live subscriptions on this version")
    created_at: datetime


@router.get("", response_model=list[PlanVersionOut])
def list_plan_versions(plan_id: str, conn: Conn, caller: Publisher) -> list[PlanVersionOut]:
    """The plan's versions, oldest first, with their live subscriptions (the plan's
    organization's publishers and admins)."""
    rows = plan_versions.list_versions(conn, caller, plan_id)
    return [PlanVersionOut.model_validate(r) for r in rows]


@router.post("", response_model=PlanVersionOut, status_code=status.HTTP_201_CREATED)
def publish_plan_version(
    plan_id: str, body: PlanVersionIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> PlanVersionOut:
    """Publish a new price (and limits) as the plan's next version: new subscribers get
    it; existing ones stay on theirs or move at renewal, as ``existing_subscribers`` says."""
    changes: dict[str, Any] = {"pricing": body.pricing}
    if "rate_limit" in body.model_fields_set:
        r = body.rate_limit
        changes["rate_limit"] = RateLimit(r.count, r.per) if r else None
    if "quota" in body.model_fields_set:
        q = body.quota
        changes["quota"] = Quota(q.limit, q.mode) if q else None
    row = plans.publish_version(ctx, conn, caller, plan_id, changes, body.existing_subscribers)
    return PlanVersionOut.model_validate(row)
