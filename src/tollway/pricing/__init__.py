"""The pricing core (pure): a plan's pricing spec, rating usage into invoice lines,
estimates. Embed it by importing from here; see docs/pricing.md ("Embedding the
pricing core")."""

from tollway.pricing.rating import (
    CostEstimate,
    HasValue,
    InvoiceLine,
    LineKind,
    RatedInvoice,
    describe_pricing,
    estimate_current_period,
    plan_change_lines,
    quota_remaining,
    rate,
    rate_aggregates,
    usage_amount,
)
from tollway.pricing.spec import (
    PriceModel,
    PricingSpec,
    Tier,
    UsagePrice,
    format_unit_amount,
    parse_pricing,
)

__all__ = [
    "CostEstimate",
    "HasValue",
    "InvoiceLine",
    "LineKind",
    "PriceModel",
    "PricingSpec",
    "RatedInvoice",
    "Tier",
    "UsagePrice",
    "describe_pricing",
    "estimate_current_period",
    "format_unit_amount",
    "parse_pricing",
    "plan_change_lines",
    "quota_remaining",
    "rate",
    "rate_aggregates",
    "usage_amount",
]
