"""Jobs an admin can trigger: publish usage to Stripe now, and its status."""

from __future__ import annotations

from fastapi import APIRouter, status

from tollway.api.billing_schemas import JobOut
from tollway.api.deps import Admin, Conn, Ctx
from tollway.services import billing

router = APIRouter(prefix="/api/v1/monetization/publish-usage", tags=["billing"])


@router.post("", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
def publish_usage(ctx: Ctx, conn: Conn, caller: Admin) -> JobOut:
    """Push all usage to Stripe now (including windows still open); returns the job,
    which starts once the request has committed."""
    return JobOut.model_validate(billing.publish_usage(ctx, conn, caller))


@router.get("/status", response_model=JobOut)
def publish_usage_status(conn: Conn, caller: Admin) -> JobOut:
    return JobOut.model_validate(billing.publish_usage_status(conn, caller))
