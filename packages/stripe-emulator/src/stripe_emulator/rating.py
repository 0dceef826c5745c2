"""Stripe's documented pricing rules, implemented on their own (no Tollway imports).

Amounts are Decimal minor units until the final rounding of a line (half up to an
integer), so decimal unit amounts such as ``0.5`` cents per unit are exact.

* per unit: ``quantity * unit_amount_decimal``
* package: ``transform_quantity`` divides the quantity by ``divide_by`` and rounds the
  result ``up`` or ``down`` before multiplying by the unit amount
* volume tiers: the whole quantity is priced at the tier it falls in, plus that tier's
  flat amount
* graduated tiers: each tier prices the units that fall within it and adds its flat
  amount when at least one unit falls in it
* a quantity of zero is charged the first tier's flat amount (the base fee)
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _tier_unit(tier: dict[str, Any]) -> Decimal:
    return _dec(tier.get("unit_amount_decimal") or tier.get("unit_amount"))


def _tier_flat(tier: dict[str, Any]) -> Decimal:
    return _dec(tier.get("flat_amount_decimal") or tier.get("flat_amount"))


def transformed(quantity: Decimal, transform: dict[str, Any] | None) -> Decimal:
    if not transform:
        return quantity
    divided = quantity / Decimal(int(transform["divide_by"]))
    rounding = ROUND_CEILING if transform["round"] == "up" else ROUND_FLOOR
    return divided.quantize(Decimal(1), rounding=rounding)


def volume(quantity: Decimal, tiers: list[dict[str, Any]]) -> Decimal:
    for tier in tiers:
        up_to = tier.get("up_to")
        if up_to is None or quantity <= Decimal(int(up_to)):
            return quantity * _tier_unit(tier) + _tier_flat(tier)
    raise ValueError("tiers must end with an unbounded tier")


def graduated(quantity: Decimal, tiers: list[dict[str, Any]]) -> Decimal:
    if quantity <= 0:
        return _tier_flat(tiers[0])
    total = Decimal(0)
    lower = Decimal(0)
    for tier in tiers:
        up_to = tier.get("up_to")
        upper = quantity if up_to is None else min(quantity, Decimal(int(up_to)))
        units = upper - lower
        if units > 0:
            total += units * _tier_unit(tier) + _tier_flat(tier)
        if up_to is None or quantity <= Decimal(int(up_to)):
            break
        lower = Decimal(int(up_to))
    return total


def exact_amount(price: dict[str, Any], quantity: Decimal) -> Decimal:
    """The unrounded amount in minor units for ``quantity`` of ``price``."""
    if quantity < 0:
        quantity = Decimal(0)
    if price.get("billing_scheme") == "tiered":
        tiers = price["tiers"]
        if price.get("tiers_mode") == "volume":
            return volume(quantity, tiers)
        return graduated(quantity, tiers)
    units = transformed(quantity, price.get("transform_quantity"))
    return units * _dec(price.get("unit_amount_decimal") or price.get("unit_amount"))


def amount(price: dict[str, Any], quantity: Decimal) -> int:
    """The line amount in integer minor units (half up)."""
    return int(exact_amount(price, quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))
