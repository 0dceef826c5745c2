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

import hashlib
import json
import re
from decimal import Decimal

from stripe.params import PriceCreateParams, PriceCreateParamsTier
from stripe.params.billing import MeterCreateParams

from tollway.billing.engine import PlanBillingSpec, UsagePriceSpec

META_PLAN = "tollway_plan_id"
META_API = "tollway_api_id"
META_COMPONENT = "tollway_component"
META_HASH = "tollway_pricing_hash"
META_SUBSCRIPTION = "tollway_subscription_id"

#: Meter events carry the customer and the value under these payload keys.
PAYLOAD_CUSTOMER = "stripe_customer_id"
PAYLOAD_VALUE = "value"


def _dec(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    return text if text != "-0" else "0"


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", value)


def meter_event_name(spec: PlanBillingSpec) -> str:
    """One meter per API x plan x meter, so a consumer's usage of one API is never billed
    on another subscription (Stripe meters bill every price of the customer on them)."""
    assert spec.usage is not None
    return f"tollway.{_slug(spec.api_id)}.{_slug(spec.plan_id)}.{_slug(spec.usage.meter_key)}"[:100]


def product_key(spec: PlanBillingSpec) -> str:
    return f"tollway-product-{spec.api_id}-{spec.plan_id}"


def component_hash(component: str, payload: object) -> str:
    blob = json.dumps([component, payload], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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


def price_fingerprint(spec: PlanBillingSpec, component: str) -> str:
    """A hash of everything that makes a price different; it goes into the lookup key,
    so a changed price gets a new key and an unchanged one is found again."""
    if component == "flat":
        payload: object = [spec.currency, spec.interval, spec.interval_count, spec.flat_fee_minor]
    else:
        u = spec.usage
        assert u is not None
        payload = [
            spec.currency,
            spec.interval,
            spec.interval_count,
            u.meter_key,
            u.aggregation,
            u.scheme,
            _dec(u.unit_amount_minor),
            u.package_size,
            [[t.up_to, _dec(t.unit_amount_minor), _dec(t.flat_amount_minor)] for t in u.tiers],
        ]
    return component_hash(component, payload)


def lookup_key(spec: PlanBillingSpec, component: str) -> str:
    return f"tw_{spec.api_id}_{spec.plan_id}_{component}_{price_fingerprint(spec, component)}"


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
