"""The organization's Stripe connection (admin)."""

from __future__ import annotations

from fastapi import APIRouter

from tollway.api.billing_schemas import StripeSettingsIn, StripeSettingsOut
from tollway.api.deps import Admin, Conn, Ctx
from tollway.services import billing

router = APIRouter(prefix="/api/v1/settings/stripe", tags=["billing"])


@router.get("", response_model=StripeSettingsOut)
def get_stripe_settings(ctx: Ctx, conn: Conn, caller: Admin) -> StripeSettingsOut:
    return StripeSettingsOut.model_validate(billing.stripe_settings(ctx, conn, caller))


@router.put("", response_model=StripeSettingsOut)
def put_stripe_settings(
    body: StripeSettingsIn, ctx: Ctx, conn: Conn, caller: Admin
) -> StripeSettingsOut:
    """Validate and store the organization's Stripe keys (secrets encrypted), then
    provision every paid plan enabled on its APIs. Secrets are never returned."""
    result = billing.connect_stripe(
        ctx,
        conn,
        caller,
        secret_key=body.secret_key,
        publishable_key=body.publishable_key,
        webhook_secret=body.webhook_secret,
    )
    return StripeSettingsOut.model_validate(result)
