"""Spend so far and the cost of one more call, fast enough for the gateway's hot path.

``SpendRater(spec)`` compiles a plan's usage prices once; then

* ``usage_cost(usage)`` is the period's usage charges for ``usage`` (quantities by
  meter): exactly the sum of the usage lines ``rate`` would put on the invoice, each
  line rounded half-up to the minor unit as there (included units, tiers and tier flat
  amounts included), so "spent so far" is what the invoice will say;
* ``call_cost(usage_so_far, call_units)`` gives that before and after one call and the
  difference, the call's marginal cost (it can be zero inside included units or
  between two cent steps, and negative when a volume price crosses into a cheaper
  tier);
* ``affordable_units(rater, meter, limit)`` is the most units of one meter whose usage
  charges stay at or under ``limit`` (a budget as a count of calls, for the gateway);
* ``remaining(limit, spent)`` is the money left on a budget or a prepaid balance, never
  below zero; ``CallCost.within(limit)`` says whether the call fits.

Flat fees are not usage: they are known in advance and left to the caller.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from tollway.domain.money import MONEY_CONTEXT, minor_unit
from tollway.pricing.prices import PriceModel, PricingSpec, UsagePrice

__all__ = ["CallCost", "SpendRater", "affordable_units", "remaining"]

_ZERO = Decimal(0)
_mul = MONEY_CONTEXT.multiply


@dataclass(frozen=True, slots=True)
class CallCost:
    """Usage charges of the period before and after one call."""

    before: Decimal
    after: Decimal

    @property
    def marginal(self) -> Decimal:
        return self.after - self.before

    def within(self, limit: Decimal) -> bool:
        """Whether the period's usage charges stay at or under ``limit`` with the call."""
        return self.after <= limit


def remaining(limit: Decimal, spent: Decimal) -> Decimal:
    """Money left on a budget or a balance: ``max(0, limit - spent)``."""
    left = limit - spent
    return left if left > 0 else _ZERO


class _Price:
    """One usage price compiled for speed: tiers as (lower, upper, unit, flat) tuples."""

    __slots__ = ("base", "included", "kind", "package", "quantum", "tiers", "unit")

    def __init__(self, u: UsagePrice, quantum: Decimal) -> None:
        self.kind = u.model
        self.included = Decimal(u.included_units)
        self.unit = u.unit_amount if u.unit_amount is not None else _ZERO
        self.package = Decimal(u.package_size or 1)
        self.quantum = quantum
        lower = _ZERO
        tiers: list[tuple[Decimal, Decimal | None, Decimal, Decimal]] = []
        for t in u.tiers:
            upper = None if t.up_to is None else Decimal(t.up_to)
            tiers.append((lower, upper, t.unit_amount, t.flat_amount))
            lower = upper if upper is not None else lower
        self.tiers = tuple(tiers)
        first = u.tiers[0].flat_amount if u.tiers and not u.included_units else _ZERO
        self.base = self._round(first)  # a first tier's flat amount is due even unused

    def _round(self, exact: Decimal) -> Decimal:
        return exact.quantize(self.quantum, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)

    def breakpoints(self) -> list[int]:
        """Quantities where the price changes segment: the included units, then each
        tier's upper bound above them."""
        inc = int(self.included)
        out = [inc] if inc else []
        out += [inc + int(upper) for _l, upper, _u, _f in self.tiers if upper is not None]
        return out

    def cost(self, quantity: Decimal) -> Decimal:
        over = quantity - self.included if quantity > self.included else _ZERO
        if self.kind is PriceModel.UNIT:
            return self._round(_mul(over, self.unit))
        if self.kind is PriceModel.PACKAGE:
            packs = MONEY_CONTEXT.divide(over, self.package).to_integral_value(ROUND_CEILING)
            return self._round(_mul(packs, self.unit))
        if over <= 0:
            return self.base if quantity == 0 else _ZERO
        if self.kind is PriceModel.VOLUME:
            for _lower, upper, unit, flat in self.tiers:
                if upper is None or over <= upper:
                    return self._round(_mul(over, unit)) + self._round(flat)
        total = _ZERO
        for lower, upper, unit, flat in self.tiers:
            if over <= lower:
                break
            top = over if upper is None or over < upper else upper
            total += self._round(_mul(top - lower, unit)) + self._round(flat)
        return total


class SpendRater:
    """A plan's usage prices compiled once, to price usage and calls quickly."""

    __slots__ = ("_prices", "currency")

    def __init__(self, spec: PricingSpec) -> None:
        self.currency = spec.currency
        quantum = minor_unit(spec.currency)
        self._prices = tuple((u.meter, _Price(u, quantum)) for u in spec.usage_prices)

    @property
    def only_meter(self) -> str | None:
        """The meter of the plan's one usage price (None with none or several): a cost per
        call can be turned into a number of calls only then (budgets, prepaid credit)."""
        return self._prices[0][0] if len(self._prices) == 1 else None

    def price_of(self, meter: str) -> _Price | None:
        """The compiled price of one meter (None when the plan does not price it)."""
        return next((p for m, p in self._prices if m == meter), None)

    def usage_cost(self, usage: Mapping[str, Decimal | int]) -> Decimal:
        """The period's usage charges for ``usage`` (quantities by meter)."""
        total = _ZERO
        for meter, price in self._prices:
            q = usage.get(meter) or 0
            total += price.cost(q if isinstance(q, Decimal) else Decimal(q))
        return total

    def call_cost(
        self, usage_so_far: Mapping[str, Decimal | int], call_units: Mapping[str, Decimal | int]
    ) -> CallCost:
        """Usage charges before and after one call that adds ``call_units`` (by meter)."""
        before = after = _ZERO
        for meter, price in self._prices:
            q = usage_so_far.get(meter) or 0
            qd = q if isinstance(q, Decimal) else Decimal(q)
            cost = price.cost(qd)
            before += cost
            add = call_units.get(meter)
            after += price.cost(qd + add) if add else cost
        return CallCost(before, after)


#: Upper bound of ``affordable_units``: a budget that buys more units than this is
#: treated as this many (no period sees 10**15 calls).
MAX_AFFORDABLE = 10**15


def affordable_units(rater: SpendRater, meter: str, limit: Decimal) -> int:
    """The largest ``n`` such that the usage charges of every count from 0 to ``n`` units
    of ``meter`` stay at or under ``limit``: a budget as a number of calls (0 when even
    no usage costs more, e.g. a first tier's flat amount above the limit).

    Charges rise with usage inside each tier; only a volume price can fall, when usage
    crosses into a cheaper tier. So the search walks the price's segments (included
    units, then each tier) in order and bisects inside the first one that crosses the
    limit: the result is the first crossing, exact for every model."""
    price = rater.price_of(meter)
    if price is None or price.cost(_ZERO) > limit:
        return 0

    def fits(n: int) -> bool:
        return price.cost(Decimal(n)) <= limit

    start = 0
    for end in [*price.breakpoints(), MAX_AFFORDABLE]:
        if end <= start:
            continue
        if fits(end):
            start = end
            continue
        lo, hi = start, end  # fits(lo), not fits(hi): bisect (monotone inside a segment)
        if not fits(lo):
            return max(0, lo - 1)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
        return lo
    return MAX_AFFORDABLE
