"""The price types of a plan: a flat fee and any number of usage prices, one per meter.

``PricingSpec`` is what ``tollway.pricing.spec.parse_pricing`` returns and what rating
reads. A plan has at most one usage price per meter; each usage price carries its own
free allowance (``included_units``), so "the first 1,000 requests free, tokens billed
from the first" is two usage prices.

``PricingSpec.to_dict`` writes the canonical JSON: with one usage price the original
shape (``"usage": {...}`` and the allowance at the top as ``"included_units"``), so
plans stored before several meters existed read and write back unchanged; with several,
``"usage": [{..., "included_units": n}, ...]``.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tollway.domain.money import decimal_places, minor_units

__all__ = [
    "PriceModel",
    "PricingSpec",
    "SeveralUsagePrices",
    "Tier",
    "UsagePrice",
    "format_unit_amount",
]


class PriceModel(StrEnum):
    UNIT = "unit"  # quantity x unit_amount
    PACKAGE = "package"  # ceil(quantity / package_size) x unit_amount
    GRADUATED = "graduated"  # each unit at the price of the tier it falls in
    VOLUME = "volume"  # every unit at the price of the tier the total falls in


class SeveralUsagePrices(ValueError):
    """A caller that handles one usage price read ``PricingSpec.usage`` of a plan that
    has several: it must read ``usage_prices``."""


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: units up to and including ``up_to`` (``None`` = no upper bound)."""

    up_to: int | None
    unit_amount: Decimal
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class UsagePrice:
    """The price of one meter's usage. ``included_units`` of it per period are free."""

    meter: str
    model: PriceModel
    unit_amount: Decimal | None = None  # unit, package
    package_size: int | None = None  # package
    tiers: tuple[Tier, ...] = ()  # graduated, volume
    included_units: int = 0

    @property
    def is_free(self) -> bool:
        if self.model in (PriceModel.UNIT, PriceModel.PACKAGE):
            return not self.unit_amount
        return all(not t.unit_amount and not t.flat_amount for t in self.tiers)

    def to_dict(self, currency: str, *, with_included: bool) -> dict[str, Any]:
        n = minor_units(currency)
        out: dict[str, Any] = {"meter": self.meter, "model": self.model.value}
        if self.model in (PriceModel.UNIT, PriceModel.PACKAGE):
            assert self.unit_amount is not None
            out["unit_amount"] = format_unit_amount(self.unit_amount, n)
        if self.model is PriceModel.PACKAGE:
            out["package_size"] = self.package_size
        if self.model in (PriceModel.GRADUATED, PriceModel.VOLUME):
            out["tiers"] = [
                {
                    "up_to": t.up_to,
                    "unit_amount": format_unit_amount(t.unit_amount, n),
                    "flat_amount": f"{t.flat_amount:.{n}f}",
                }
                for t in self.tiers
            ]
        if with_included:
            out["included_units"] = self.included_units
        return out


@dataclass(frozen=True, slots=True)
class PricingSpec:
    """A parsed, validated pricing. ``currency`` is upper-case ISO 4217.

    ``usage_prices`` are in the order the plan lists them, one per meter.
    """

    currency: str
    flat_fee: Decimal = Decimal(0)
    usage_prices: tuple[UsagePrice, ...] = ()

    def __post_init__(self) -> None:
        meters = [u.meter for u in self.usage_prices]
        if len(set(meters)) != len(meters):
            raise ValueError(f"one usage price per meter: {meters}")

    @property
    def is_free(self) -> bool:
        """True when the price is zero whatever the usage."""
        return not self.flat_fee and all(u.is_free for u in self.usage_prices)

    @property
    def usage(self) -> UsagePrice | None:
        """The plan's only usage price (``None`` without one).

        Raises ``SeveralUsagePrices`` for a plan with several: read ``usage_prices``.
        """
        if len(self.usage_prices) > 1:
            raise SeveralUsagePrices(
                f"the plan has {len(self.usage_prices)} usage prices; read usage_prices"
            )
        return self.usage_prices[0] if self.usage_prices else None

    @property
    def included_units(self) -> int:
        """Free allowance of the only usage price (0 without one)."""
        u = self.usage
        return u.included_units if u is not None else 0

    @property
    def meter(self) -> str | None:
        """Key of the only usage meter, if any (see ``usage``)."""
        u = self.usage
        return u.meter if u is not None else None

    @property
    def meters(self) -> tuple[str, ...]:
        """Keys of every meter the plan prices, in order."""
        return tuple(u.meter for u in self.usage_prices)

    def usage_price(self, meter: str) -> UsagePrice | None:
        return next((u for u in self.usage_prices if u.meter == meter), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (Decimals as strings) that ``parse_pricing`` reads back equal:
        the original one-meter shape for one usage price, a list for several."""
        n = minor_units(self.currency)
        out: dict[str, Any] = {"flat_fee": f"{self.flat_fee:.{n}f}"}
        if len(self.usage_prices) > 1:
            out["usage"] = [u.to_dict(self.currency, with_included=True) for u in self.usage_prices]
            return out
        only = self.usage_prices[0] if self.usage_prices else None
        out["included_units"] = only.included_units if only else 0
        if only is not None:
            out["usage"] = only.to_dict(self.currency, with_included=False)
        return out


def format_unit_amount(value: Decimal, minor: int) -> str:
    """A unit price as text: at least the currency's minor places, no trailing zeros
    beyond them, never an exponent (``0.5`` USD -> ``"0.50"``, ``1e-4`` -> ``"0.0001"``)."""
    places = max(minor, decimal_places(value))
    return f"{value:.{places}f}"
