"""A consumer's invoices: Stripe's list and the next invoice next to Tollway's estimate."""

from __future__ import annotations

from fastapi import APIRouter, Query

from tollway.api.billing_schemas import InvoiceListOut, UpcomingOut
from tollway.api.deps import Caller, Conn, Ctx
from tollway.services import billing

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


@router.get("/invoices", response_model=InvoiceListOut)
def list_invoices(ctx: Ctx, conn: Conn, caller: Caller) -> InvoiceListOut:
    """The caller's Stripe invoices: number, period, amount, status, hosted link/PDF."""
    return InvoiceListOut.model_validate({"data": billing.invoices(ctx, conn, caller)})


@router.get("/upcoming", response_model=UpcomingOut)
def upcoming_invoice(
    ctx: Ctx, conn: Conn, caller: Caller, subscription_id: str = Query(max_length=64)
) -> UpcomingOut:
    """Stripe's preview of the next invoice next to Tollway's own estimate."""
    return UpcomingOut.model_validate(billing.upcoming_invoice(ctx, conn, caller, subscription_id))
