"""Names and fingerprints Tollway gives billing objects (provider-neutral, pure)."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal

from tollway.billing.engine import PlanBillingSpec

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


#: Stripe's limit on a meter's ``event_name`` (and a meter event's).
EVENT_NAME_MAX = 100


def meter_event_name(spec: PlanBillingSpec) -> str:
    """One meter per API x plan x meter, so a consumer's usage of one API is never billed
    on another subscription (Stripe meters bill every price of the customer on them).

    A name longer than Stripe's 100 characters is cut and ends with a hash of the whole
    name, so two meters that differ only past the cut never share an event name."""
    assert spec.usage is not None
    name = f"tollway.{_slug(spec.api_id)}.{_slug(spec.plan_id)}.{_slug(spec.usage.meter_key)}"
    if len(name) <= EVENT_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: EVENT_NAME_MAX - len(digest) - 1]}.{digest}"


def product_key(spec: PlanBillingSpec) -> str:
    return f"tollway-product-{spec.api_id}-{spec.plan_id}"


def component_hash(component: str, payload: object) -> str:
    blob = json.dumps([component, payload], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
