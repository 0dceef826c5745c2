"""Stripe customer-portal sessions for a consumer's subscription."""

from __future__ import annotations

from fastapi import APIRouter

from tollway.api.billing_schemas import PortalOut
from tollway.api.deps import Caller, Conn, Ctx
from tollway.services import billing

router = APIRouter(prefix="/api/v1/subscriptions", tags=["billing"])


@router.post("/{sub_id}/portal", response_model=PortalOut)
def portal(sub_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> PortalOut:
    """A Stripe customer-portal URL — for the caller's own subscriptions only (anyone
    else's is a 404, exactly as for an id that does not exist)."""
    return PortalOut(url=billing.portal_url(ctx, conn, caller, sub_id))
