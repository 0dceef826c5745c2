"""From Tollway's pricing (``tollway.pricing.spec.PricingSpec``) to a provider plan spec.

Tollway rates usage as documented in ``tollway.pricing.rating``; the provider must
produce the same invoice. The translation:

* flat fee -> a licensed price of ``flat_fee`` per period;
* unit -> ``unit_amount`` per unit; with included units, a graduated price whose first
  tier (``up_to = included``) is free;
* package -> ``unit_amount`` per started package (transform_quantity, round up);
* graduated -> the same tiers; with included units, tiers shifted by the allowance
  behind a free first tier (tier bounds count overage units in Tollway);
* volume -> the same tiers.

Two combinations have no Stripe equivalent and are refused when a plan is enabled:
package or volume pricing together with included units.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tollway.billing.engine import MeterAggregation, PlanBillingSpec, TierSpec, UsagePriceSpec
from tollway.domain.errors import InvalidInput
from tollway.domain.money import MONEY_CONTEXT, minor_units
from tollway.metering.meters import Aggregation, MeterDefinition
from tollway.pricing.spec import PriceModel, PricingSpec, UsagePrice

#: Tollway billing interval -> (Stripe interval, interval_count).
INTERVALS: dict[str, tuple[str, int]] = {
    "day": ("day", 1),
    "week": ("week", 1),
    "month": ("month", 1),
    "quarter": ("month", 3),
    "half_year": ("month", 6),
    "year": ("year", 1),
}


def minor(amount: Decimal, currency: str) -> Decimal:
    """An amount in the currency's minor units, exactly (0.02 USD -> 2, 0.0001 -> 0.01)."""
    return amount.scaleb(minor_units(currency), context=MONEY_CONTEXT).normalize(
        context=MONEY_CONTEXT
    )


def provider_aggregation(meter: MeterDefinition) -> MeterAggregation:
    """Additive meters are pushed as window sums; the others as period-to-date values
    to a ``last`` meter."""
    if meter.aggregation in (Aggregation.COUNT, Aggregation.SUM):
        return "sum"
    return "last"


def _usage(
    u: UsagePrice, cur: str, meter: MeterDefinition, included_loc: tuple[str | int, ...]
) -> UsagePriceSpec | None:
    """One usage price (with its own included units) as the provider bills it."""
    if u.is_free:
        return None
    agg = provider_aggregation(meter)
    inc = u.included_units
    if u.model is PriceModel.UNIT:
        assert u.unit_amount is not None
        if not inc:
            return UsagePriceSpec(
                u.meter, agg, "per_unit", unit_amount_minor=minor(u.unit_amount, cur)
            )
        tiers = (TierSpec(inc, Decimal(0)), TierSpec(None, minor(u.unit_amount, cur)))
        return UsagePriceSpec(u.meter, agg, "graduated", tiers=tiers)
    if u.model is PriceModel.PACKAGE:
        assert u.unit_amount is not None and u.package_size is not None
        if inc:
            raise InvalidInput.at(
                included_loc,
                "Stripe cannot bill package pricing with included units; "
                "use graduated tiers with a free first tier instead",
            )
        return UsagePriceSpec(
            u.meter,
            agg,
            "package",
            unit_amount_minor=minor(u.unit_amount, cur),
            package_size=u.package_size,
        )
    if u.model is PriceModel.VOLUME and inc:
        raise InvalidInput.at(
            included_loc,
            "Stripe cannot bill volume pricing with included units",
        )
    tiers_out: list[TierSpec] = []
    if inc:
        tiers_out.append(TierSpec(inc, Decimal(0)))
    for t in u.tiers:
        tiers_out.append(
            TierSpec(
                None if t.up_to is None else t.up_to + inc,
                minor(t.unit_amount, cur),
                minor(t.flat_amount, cur),
            )
        )
    if u.model is PriceModel.GRADUATED:
        return UsagePriceSpec(u.meter, agg, "graduated", tiers=tuple(tiers_out))
    return UsagePriceSpec(u.meter, agg, "volume", tiers=tuple(tiers_out))


def plan_billing_spec(
    *,
    plan_id: str,
    api_id: str,
    name: str,
    billing_interval: str,
    pricing: PricingSpec,
    meters: Mapping[str, MeterDefinition],
    interval_count: int = 1,
) -> PlanBillingSpec:
    """``meters``: the definition of every meter the pricing prices, by key."""
    if billing_interval not in INTERVALS:
        raise InvalidInput.at(("billing_interval",), f"unknown interval {billing_interval!r}")
    interval, count = INTERVALS[billing_interval]
    count *= interval_count  # every N quarters = every 3N months
    fee = minor(pricing.flat_fee, pricing.currency)
    several = len(pricing.usage_prices) > 1
    usages = [
        _usage(
            u,
            pricing.currency,
            meters[u.meter],
            ("pricing", "usage", i, "included_units") if several else ("pricing", "included_units"),
        )
        for i, u in enumerate(pricing.usage_prices)
    ]
    billed = [u for u in usages if u is not None]
    return PlanBillingSpec(
        plan_id=plan_id,
        api_id=api_id,
        name=name,
        currency=pricing.currency,
        interval=interval,  # type: ignore[arg-type]
        interval_count=count,
        flat_fee_minor=int(fee),
        usage=billed[0] if billed else None,
        more_usage=tuple(billed[1:]),
    )
