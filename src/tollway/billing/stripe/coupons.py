"""Coupons and promotion codes at Stripe: created from Tollway's coupon (Stripe's field
names; ``amount_off`` in major units here, minor units at Stripe) and redeemed on a
live subscription (``subscriptions.update`` with ``discounts``)."""

from __future__ import annotations

from typing import Any, cast

import stripe

from tollway.billing.stripe.client import stripe_errors
from tollway.domain.money import to_minor
from tollway.pricing.discounts import Coupon


def create_coupon(
    client: stripe.StripeClient, key: str, name: str, coupon: Coupon, code: str | None
) -> tuple[str, str | None]:
    """The Stripe coupon (and promotion code) for ``coupon``; ``key`` makes it idempotent."""
    params: dict[str, Any] = {"name": name, "duration": coupon.duration.value}
    if coupon.percent_off is not None:
        params["percent_off"] = float(coupon.percent_off)
    else:
        assert coupon.amount_off is not None and coupon.currency is not None
        params["amount_off"] = to_minor(coupon.amount_off, coupon.currency)
        params["currency"] = coupon.currency.lower()
    if coupon.duration_in_months is not None:
        params["duration_in_months"] = coupon.duration_in_months
    with stripe_errors():
        created = client.v1.coupons.create(
            params=cast("stripe.params.CouponCreateParams", params),
            options={"idempotency_key": f"tollway-coupon-{key}"},
        )
        promo = None
        if code:
            promo = client.v1.promotion_codes.create(
                params=cast(
                    "stripe.params.PromotionCodeCreateParams",
                    {"promotion": {"type": "coupon", "coupon": created.id}, "code": code},
                ),
                options={"idempotency_key": f"tollway-promo-{key}"},
            ).id
    return created.id, promo


def apply_coupon(client: stripe.StripeClient, subscription_id: str, coupon_id: str) -> None:
    with stripe_errors():
        client.v1.subscriptions.update(
            subscription_id, params={"discounts": [{"coupon": coupon_id}]}
        )
