"""The organization's tax setting (Stripe Tax): ``GET/PUT /api/v1/settings/tax``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tollway.api.deps import Admin, Conn, Ctx, Publisher
from tollway.domain.tax import TaxSettings
from tollway.services import tax

router = APIRouter(prefix="/api/v1/settings/tax", tags=["billing"])


class TaxSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    automatic_tax: bool = Field(
        description="Stripe Tax computes the tax of Checkout, subscriptions and invoices"
    )
    tax_id_collection: bool = Field(False, description="Checkout asks for a business tax ID")
    billing_address_collection: Literal["auto", "required"] = Field(
        "auto", description="Checkout always asks for the billing address (required)"
    )


class TaxSettingsOut(TaxSettingsIn):
    estimates: Literal["calculated_by_stripe", "not_collected"] = Field(
        description="calculated_by_stripe: Tollway's estimates are before tax"
    )


@router.get("", response_model=TaxSettingsOut)
def get_tax_settings(conn: Conn, caller: Publisher) -> TaxSettingsOut:
    return TaxSettingsOut.model_validate(tax.get(conn, caller))


@router.put("", response_model=TaxSettingsOut)
def put_tax_settings(body: TaxSettingsIn, ctx: Ctx, conn: Conn, caller: Admin) -> TaxSettingsOut:
    """Turn Stripe Tax on or off for the organization's new Checkout sessions and the
    subscription updates Tollway makes; estimates then say they are before tax."""
    value = TaxSettings(
        automatic_tax=body.automatic_tax,
        tax_id_collection=body.tax_id_collection,
        billing_address_collection=body.billing_address_collection,
    )
    return TaxSettingsOut.model_validate(tax.put(ctx, conn, caller, value))
