"""The account behind the API key."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..router import router
from ..state import Obj


def account_object(ctx: Ctx) -> Obj:
    return {
        "id": ctx.account,
        "object": "account",
        "business_profile": {
            "name": "Stripe emulator (development)",
            "url": None,
            "support_email": None,
            "mcc": None,
            "product_description": None,
        },
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "country": "US",
        "created": 1700000000,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "emulator@example.invalid",
        "livemode": False,
        "metadata": {},
        "payouts_enabled": True,
        "settings": {"dashboard": {"display_name": "Stripe emulator", "timezone": "Etc/UTC"}},
        "type": "standard",
    }


@router.get("/v1/account", "account")
def retrieve(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return account_object(ctx)
