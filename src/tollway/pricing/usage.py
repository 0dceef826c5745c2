"""Usage lines per price model: a pricing + a quantity of its usage meter -> lines.

The rules (see docs/pricing.md):

* **included units** - the first ``included_units`` of the usage meter are free (a
  zero line shows them); the usage price applies to the rest (the *overage*), and tier
  boundaries count overage units.
* **unit** - ``quantity x unit_amount``.
* **package** - ``ceil(quantity / package_size) x unit_amount`` (partial packages are
  rounded up, like Stripe's ``transform_quantity[round]=up``).
* **graduated** - each unit at the price of the tier it falls in, plus the flat amount
  of every tier that has at least one unit; one line per tier (and per tier flat amount).
* **volume** - every unit at the price of the tier the total falls in, plus that tier's
  flat amount. (Volume totals can drop when the quantity crosses into a cheaper tier:
  that is what volume pricing means.)
* A zero quantity reaches no tier's units, but with no included units the first
  tier's flat amount is still charged (Stripe bills it at period end whatever the
  usage: the "flat fee and overages" pattern); with included units nothing is.

Flat fees, proration and totals are assembled in ``tollway.pricing.invoice``.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal

from tollway.domain.money import MONEY_CONTEXT
from tollway.pricing.lines import _ZERO, InvoiceLine, LineKind, _line, _qty, _unit_price
from tollway.pricing.prices import PriceModel, PricingSpec, Tier, UsagePrice

__all__ = ["usage_amount", "usage_lines"]


def _as_quantity(q: Decimal | int) -> Decimal:
    """A usage quantity as a Decimal; rejects bools, NaN, infinities and negatives."""
    if isinstance(q, bool):
        raise TypeError("quantity must be a Decimal or int")
    d = q if isinstance(q, Decimal) else Decimal(q)
    if not d.is_finite() or d < 0:
        raise ValueError(f"usage quantity must be a finite number >= 0, got {q!r}")
    return d


def _mul(a: Decimal, b: Decimal) -> Decimal:
    return MONEY_CONTEXT.multiply(a, b)


def usage_amount(
    spec: PricingSpec, quantity: Decimal | int, *, label: str | None = None
) -> list[InvoiceLine]:
    """The usage lines of a plan's only usage price (see ``PricingSpec.usage``)."""
    u = spec.usage
    if u is None:
        _as_quantity(quantity)
        return []
    return usage_lines(u, spec.currency, quantity, label=label)


def usage_lines(
    u: UsagePrice, currency: str, quantity: Decimal | int, *, label: str | None = None
) -> list[InvoiceLine]:
    """The usage lines (included allowance + priced overage) of one usage price for a
    quantity of its meter. ``currency`` is the plan's (upper case)."""
    q = _as_quantity(quantity)
    cur = currency
    name = label or u.meter
    lines: list[InvoiceLine] = []
    included = Decimal(u.included_units)
    if u.included_units:
        free = min(q, included)
        lines.append(
            _line(
                LineKind.INCLUDED,
                f"{name}: {_qty(free)} of {_qty(included)} included",
                free,
                _ZERO,
                _ZERO,
                cur,
                meter=u.meter,
            )
        )
    over = q - included if q > included else _ZERO
    if u.model is PriceModel.UNIT:
        assert u.unit_amount is not None
        extra = " beyond the included units" if u.included_units else ""
        lines.append(
            _line(
                LineKind.USAGE,
                f"{name}{extra}: {_qty(over)} x {_unit_price(u.unit_amount, cur)}",
                over,
                u.unit_amount,
                _mul(over, u.unit_amount),
                cur,
                meter=u.meter,
            )
        )
    elif u.model is PriceModel.PACKAGE:
        assert u.unit_amount is not None and u.package_size is not None
        packages = MONEY_CONTEXT.divide(over, Decimal(u.package_size)).to_integral_value(
            rounding=ROUND_CEILING
        )
        lines.append(
            _line(
                LineKind.USAGE,
                f"{name}: {_qty(over)} in packages of {_qty(Decimal(u.package_size))}: "
                f"{_qty(packages)} x {_unit_price(u.unit_amount, cur)}",
                packages,
                u.unit_amount,
                _mul(packages, u.unit_amount),
                cur,
                meter=u.meter,
            )
        )
    elif u.model is PriceModel.GRADUATED:
        lines.extend(_graduated(u.tiers, over, name, u.meter, cur))
    else:
        lines.extend(_volume(u.tiers, over, name, u.meter, cur))
    if q == 0 and not u.included_units and u.tiers and u.tiers[0].flat_amount:
        lines.append(_base_fee(u.tiers[0], name, u.meter, cur))
    return lines


def _base_fee(first: Tier, name: str, meter: str, cur: str) -> InvoiceLine:
    """A first tier's flat amount with no usage at all: Stripe charges it (the "flat fee
    and overages" pattern), so the invoice has it too."""
    return _line(
        LineKind.TIER_FLAT,
        f"{name} {_tier_range(0, first.up_to)} (tier 1): flat amount, without usage",
        Decimal(1),
        None,
        first.flat_amount,
        cur,
        meter=meter,
        tier=1,
    )


def _tier_range(lower: int, up_to: int | None) -> str:
    """A tier's units for humans: ``"11-25"`` or ``"26 and above"``."""
    if up_to is None:
        return f"{lower + 1:,} and above"
    return f"{lower + 1:,}-{up_to:,}"


def _graduated(
    tiers: Sequence[Tier], q: Decimal, name: str, meter: str, cur: str
) -> list[InvoiceLine]:
    out: list[InvoiceLine] = []
    lower = 0
    for i, t in enumerate(tiers, start=1):
        if q <= lower:
            break
        top = q if t.up_to is None else min(q, Decimal(t.up_to))
        units = top - lower
        rng = _tier_range(lower, t.up_to)
        out.append(
            _line(
                LineKind.USAGE,
                f"{name} {rng} (tier {i}): {_qty(units)} x {_unit_price(t.unit_amount, cur)}",
                units,
                t.unit_amount,
                _mul(units, t.unit_amount),
                cur,
                meter=meter,
                tier=i,
                first_unit=Decimal(lower + 1),
                last_unit=top,
            )
        )
        if t.flat_amount:
            out.append(
                _line(
                    LineKind.TIER_FLAT,
                    f"{name} {rng} (tier {i}): flat amount",
                    Decimal(1),
                    None,
                    t.flat_amount,
                    cur,
                    meter=meter,
                    tier=i,
                )
            )
        if t.up_to is None:
            break
        lower = t.up_to
    return out


def _volume(
    tiers: Sequence[Tier], q: Decimal, name: str, meter: str, cur: str
) -> list[InvoiceLine]:
    if q <= 0:
        return []
    lower = 0
    for i, t in enumerate(tiers, start=1):
        if t.up_to is None or q <= t.up_to:
            rng = _tier_range(lower, t.up_to)
            out = [
                _line(
                    LineKind.USAGE,
                    f"{name} (volume tier {i}: {rng}): "
                    f"{_qty(q)} x {_unit_price(t.unit_amount, cur)}",
                    q,
                    t.unit_amount,
                    _mul(q, t.unit_amount),
                    cur,
                    meter=meter,
                    tier=i,
                    first_unit=Decimal(1),
                    last_unit=q,
                )
            ]
            if t.flat_amount:
                out.append(
                    _line(
                        LineKind.TIER_FLAT,
                        f"{name} (volume tier {i}: {rng}): flat amount",
                        Decimal(1),
                        None,
                        t.flat_amount,
                        cur,
                        meter=meter,
                        tier=i,
                    )
                )
            return out
        lower = t.up_to
    raise AssertionError("the last tier is open-ended")  # pragma: no cover
