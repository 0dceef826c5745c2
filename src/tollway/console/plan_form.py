"""The plan form: its fields are the REST API's pricing paths (``pricing.usage.tiers.1.
up_to``), so the pricing core's located errors land on the field that is wrong."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tollway.services.plans import Quota, RateLimit

TIER_ROWS = 4
MODELS = (
    ("", "No usage price (flat fee only, or free)"),
    ("unit", "Per call (unit)"),
    ("package", "Per package of calls"),
    ("graduated", "Graduated tiers (each tier's calls at its price)"),
    ("volume", "Volume tiers (all calls at the reached tier's price)"),
)
INTERVALS = (
    ("month", "Month"),
    ("year", "Year"),
    ("quarter", "Quarter"),
    ("half_year", "Half year"),
    ("week", "Week"),
    ("day", "Day"),
)
RATE_UNITS = (("second", "second"), ("minute", "minute"), ("hour", "hour"), ("day", "day"))
QUOTA_MODES = (
    ("hard", "Hard: calls past the quota are refused"),
    ("overage", "Overage: calls past the quota go on and are billed"),
)


class PricingFields(BaseModel):
    """Only what a plan's pricing needs to be read back; the pricing core checks it."""

    pricing: dict[str, Any] = Field(default_factory=dict)
    currency: str = Field("USD", pattern=r"^[A-Za-z]{3}$", title="Currency")


class PriceChangeForm(PricingFields):
    """A new price: the plan's next version, and what happens to existing subscribers."""

    existing_subscribers: Literal["move_at_renewal", "stay"] = Field(
        "move_at_renewal", title="Existing subscribers"
    )


class PlanForm(PricingFields):
    name: str = Field(min_length=1, max_length=200, title="Name")
    description: str = Field("", max_length=10_000, title="Description")
    billing_interval: Literal["day", "week", "month", "quarter", "half_year", "year"] = "month"
    rate_limit_count: int | None = Field(None, ge=1, le=10**9, title="Rate limit")
    rate_limit_per: Literal["second", "minute", "hour", "day"] = "minute"
    quota_limit: int | None = Field(None, ge=0, le=10**15, title="Quota")
    quota_mode: Literal["hard", "overage"] = "hard"

    def rate_limit(self) -> RateLimit | None:
        if self.rate_limit_count is None:
            return None
        return RateLimit(self.rate_limit_count, self.rate_limit_per)

    def quota(self) -> Quota | None:
        return None if self.quota_limit is None else Quota(self.quota_limit, self.quota_mode)


def pricing_of(form: PricingFields) -> dict[str, Any]:
    """The pricing JSON from the form's ``pricing.*`` inputs (empty inputs left out)."""
    raw = form.pricing
    out: dict[str, Any] = {}
    if "flat_fee" in raw:
        out["flat_fee"] = raw["flat_fee"]
    given = raw.get("usage")
    usage: dict[str, Any] = given if isinstance(given, dict) else {}
    model = usage.get("model")
    if model:
        price: dict[str, Any] = {"meter": usage.get("meter") or "requests", "model": model}
        if model in ("unit", "package") and "unit_amount" in usage:
            price["unit_amount"] = usage["unit_amount"]
        if model == "package" and "package_size" in usage:
            price["package_size"] = _int(usage["package_size"])
        if model in ("graduated", "volume"):
            rows = usage.get("tiers")
            tiers: list[Any] = rows if isinstance(rows, list) else []
            price["tiers"] = [
                {
                    "up_to": _int(t.get("up_to")),
                    **{k: t[k] for k in ("unit_amount", "flat_amount") if k in t},
                }
                for t in tiers
                if isinstance(t, dict)
            ]
        out["usage"] = price
        if "included_units" in raw:
            out["included_units"] = _int(raw["included_units"])
    return out


def values_of(plan: dict[str, Any]) -> dict[str, str]:
    """A stored plan as the form's input values."""
    pricing = plan["pricing"]
    values = {
        "name": str(plan["name"]),
        "description": str(plan["description"] or ""),
        "currency": str(plan["currency"]),
        "billing_interval": str(plan["billing_interval"]),
        "pricing.flat_fee": str(pricing.get("flat_fee", "")),
        "rate_limit_count": _text(plan["rate_limit_count"]),
        "rate_limit_per": str(plan["rate_limit_unit"] or "minute"),
        "quota_limit": _text(plan["quota_limit"]),
        "quota_mode": str(plan["quota_mode"] or "hard"),
    }
    usage = pricing.get("usage")
    if isinstance(usage, dict):
        values["pricing.included_units"] = _text(pricing.get("included_units"))
        for key in ("meter", "model", "unit_amount", "package_size"):
            values[f"pricing.usage.{key}"] = _text(usage.get(key))
        for i, tier in enumerate(usage.get("tiers") or []):
            for key in ("up_to", "unit_amount", "flat_amount"):
                values[f"pricing.usage.tiers.{i}.{key}"] = _text(tier.get(key))
    return values


def _int(value: object) -> object:
    """A whole number typed with or without separators ("10,000"); anything else as
    typed, for the pricing core to refuse at its field."""
    if isinstance(value, str):
        digits = value.strip().replace(",", "").replace("_", "").replace(" ", "")
        if digits.isdigit():
            return int(digits)
    return value


def _text(value: object) -> str:
    return "" if value is None else str(value)
