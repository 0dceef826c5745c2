"""Tollway plan specs -> Stripe request parameters (typed by the SDK's own TypedDicts).

How each Tollway price model becomes a Stripe price:

=============  ==========================================================================
flat fee       licensed recurring price, ``unit_amount`` = fee, quantity 1
unit           metered price on the plan's meter, ``unit_amount_decimal`` (minor units)
package        metered price, ``transform_quantity`` {divide_by: size, round: up}
graduated      metered price, ``billing_scheme=tiered``, ``tiers_mode=graduated``
volume         metered price, ``billing_scheme=tiered``, ``tiers_mode=volume``
=============  ==========================================================================

Included units are folded into tiers by ``tollway.billing.plans`` before they reach
this module (a free first tier); package pricing with included units cannot be
expressed by Stripe and is refused there.
"""

from __future__ import annotations

from decimal import Decimal

from stripe.params import PriceCreateParams, PriceCreateParamsTier
from stripe.params.billing import MeterCreateParams

from tollway.billing.engine import PlanBillingSpec, UsagePriceSpec
from tollway.billing.naming import (
    META_API,
    META_COMPONENT,
    META_HASH,
    META_PLAN,
    META_SUBSCRIPTION,
    PAYLOAD_CUSTOMER,
    PAYLOAD_VALUE,
    _dec,
    component_hash,
    lookup_key,
    meter_event_name,
    price_fingerprint,
    product_key,
)

__all__ = [
    "META_API",
    "META_COMPONENT",
    "META_HASH",
    "META_PLAN",
    "META_SUBSCRIPTION",
    "PAYLOAD_CUSTOMER",
    "PAYLOAD_VALUE",
    "component_hash",
    "flat_price_params",
    "lookup_key",
    "meter_event_name",
    "meter_params",
    "price_fingerprint",
    "product_key",
    "usage_price_params",
]


def flat_price_params(spec: PlanBillingSpec, product_id: str) -> PriceCreateParams:
    body: PriceCreateParams = {
        "currency": spec.currency.lower(),
        "product": product_id,
        "unit_amount": spec.flat_fee_minor,
        "recurring": {
            "interval": spec.interval,
            "interval_count": spec.interval_count,
            "usage_type": "licensed",
        },
        "nickname": f"{spec.name} (flat fee)",
    }
    return body


def _tiers(usage: UsagePriceSpec) -> list[PriceCreateParamsTier]:
    out: list[PriceCreateParamsTier] = []
    for tier in usage.tiers:
        item: PriceCreateParamsTier = {
            "up_to": "inf" if tier.up_to is None else tier.up_to,
            "unit_amount_decimal": Decimal(_dec(tier.unit_amount_minor)),
        }
        if tier.flat_amount_minor:
            item["flat_amount_decimal"] = Decimal(_dec(tier.flat_amount_minor))
        out.append(item)
    return out


def usage_price_params(spec: PlanBillingSpec, product_id: str, meter_id: str) -> PriceCreateParams:
    usage = spec.usage
    assert usage is not None
    body: PriceCreateParams = {
        "currency": spec.currency.lower(),
        "product": product_id,
        "recurring": {
            "interval": spec.interval,
            "interval_count": spec.interval_count,
            "usage_type": "metered",
            "meter": meter_id,
        },
        "nickname": f"{spec.name} (usage: {usage.meter_key})",
    }
    if usage.scheme in ("graduated", "volume"):
        body["billing_scheme"] = "tiered"
        body["tiers_mode"] = usage.scheme
        body["tiers"] = _tiers(usage)
    else:
        body["unit_amount_decimal"] = Decimal(_dec(usage.unit_amount_minor))
        if usage.scheme == "package":
            body["transform_quantity"] = {"divide_by": usage.package_size, "round": "up"}
    return body


def meter_params(spec: PlanBillingSpec) -> MeterCreateParams:
    usage = spec.usage
    assert usage is not None
    formula = "last" if usage.aggregation == "last" else "sum"
    body: MeterCreateParams = {
        "display_name": f"{spec.name} — {usage.meter_key}"[:250],
        "event_name": meter_event_name(spec),
        "default_aggregation": {"formula": formula},
        "customer_mapping": {"type": "by_id", "event_payload_key": PAYLOAD_CUSTOMER},
        "value_settings": {"event_payload_key": PAYLOAD_VALUE},
    }
    return body
