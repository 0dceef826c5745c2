"""What a customer sees before the invoice: the current period's estimated cost, a
plan's one-line description, and units left under a quota.

Pure: no clock, no I/O (``as_of`` comes from the caller's clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from tollway.domain.money import MONEY_CONTEXT, format_amount
from tollway.domain.periods import Period, as_utc
from tollway.pricing.invoice import Quantities, rate
from tollway.pricing.lines import _ZERO, RatedInvoice, _unit_price
from tollway.pricing.prices import PriceModel, PricingSpec, UsagePrice
from tollway.pricing.usage import _as_quantity, _tier_range

__all__ = ["CostEstimate", "describe_pricing", "estimate_current_period", "quota_remaining"]


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Estimated cost of the current period, as of ``as_of``.

    ``usage_so_far``/``projected_usage`` are the one meter's values for a plan with one
    usage price (or a single quantity given); ``usage_by_meter``/``projected_by_meter``
    hold every meter's.
    """

    period: Period
    as_of: datetime
    usage_so_far: Decimal
    so_far: RatedInvoice  # flat fee + usage up to now: what the invoice would be today
    projected_usage: Decimal | None  # linear projection of usage to the period end
    projected: RatedInvoice | None = field(default=None)
    usage_by_meter: dict[str, Decimal] = field(default_factory=dict)
    projected_by_meter: dict[str, Decimal] | None = None

    @property
    def total(self) -> Decimal:
        return self.so_far.total


def estimate_current_period(
    spec: PricingSpec,
    currency: str,
    usage_so_far: Quantities,
    *,
    period: Period,
    as_of: datetime,
    started_at: datetime | None = None,
    project: bool = True,
    before_tax: bool = False,
) -> CostEstimate:
    """ "Estimated cost for the current period": the invoice rated on usage so far, plus a
    linear projection of usage to the period end (``project=True``).

    ``usage_so_far`` is one quantity (a plan with one usage price) or quantities by
    meter. ``started_at`` (a subscription that began inside the period) prorates the
    flat fee and is where the projection's elapsed time starts. ``as_of`` comes from the
    caller's clock; it is clipped to the period. ``before_tax``: tax is added by the
    billing provider (the estimate is "before tax").
    """
    scalar = not isinstance(usage_so_far, Mapping)
    if isinstance(usage_so_far, Mapping):
        used = {m: _as_quantity(q) for m, q in usage_so_far.items()}
    else:
        used = {m: _as_quantity(usage_so_far) for m in spec.meters[:1]}
        single = _as_quantity(usage_so_far)
    now = min(max(as_utc(as_of), period.start), period.end)
    begin = period.start if started_at is None else max(period.start, as_utc(started_at))
    proration = (begin, period.end) if begin > period.start else None
    so_far = rate(spec, currency, used, period=period, proration=proration, before_tax=before_tax)
    projected_by: dict[str, Decimal] | None = None
    projected: RatedInvoice | None = None
    if project:
        elapsed = _us(now - begin)
        if elapsed > 0:
            whole = _us(period.end - begin)
            projected_by = {m: _project(q, whole, elapsed) for m, q in used.items()}
            projected = rate(
                spec,
                currency,
                projected_by,
                period=period,
                proration=proration,
                before_tax=before_tax,
            )
        else:
            projected_by = dict(used)
            projected = so_far
    if scalar:
        first: Decimal | None = single
        projected_first = (
            None if projected_by is None else next(iter(projected_by.values()), single)
        )
    else:
        first = next(iter(used.values()), _ZERO) if len(used) <= 1 else _ZERO
        projected_first = (
            None
            if projected_by is None
            else next(iter(projected_by.values()), _ZERO)
            if len(projected_by) <= 1
            else None
        )
    return CostEstimate(
        period=period,
        as_of=now,
        usage_so_far=first if first is not None else _ZERO,
        so_far=so_far,
        projected_usage=projected_first,
        projected=projected,
        usage_by_meter=used,
        projected_by_meter=projected_by,
    )


def _project(used: Decimal, whole: int, elapsed: int) -> Decimal:
    """Usage so far scaled linearly to the whole period; whole counts stay whole (up)."""
    projected = MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(used, Decimal(whole)), Decimal(elapsed))
    if used == used.to_integral_value():
        return projected.to_integral_value(rounding=ROUND_CEILING)
    return projected


def _us(td: timedelta) -> int:
    """A duration in whole microseconds (exact, no float)."""
    return (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds


def describe_pricing(
    spec: PricingSpec, *, interval: str | None = None, unit_label: str | None = None
) -> str:
    """One line for plan cards: ``"₹999.00 per month, includes 10,000 requests, then
    ₹0.01 per unit"``. ``interval`` (e.g. ``"month"``) and ``unit_label`` (defaults to
    the meter key) only change the wording."""
    cur = spec.currency
    per = f" per {interval.replace('_', ' ')}" if interval else " per period"
    parts: list[str] = []
    if spec.flat_fee:
        parts.append(f"{format_amount(spec.flat_fee, cur)}{per}")
    for u in spec.usage_prices:
        label = (unit_label if len(spec.usage_prices) == 1 else None) or u.meter
        parts.extend(_describe_usage(u, cur, label))
    return ", ".join(parts) if parts else "Free"


def describe_usage_prices(spec: PricingSpec) -> list[str]:
    """One line per usage price, in the plan's order: ``"tokens: $0.01 per 1,000
    tokens"`` (a plan that bills several meters lists each with its price)."""
    return [
        f"{u.meter}: " + ", ".join(_describe_usage(u, spec.currency, u.meter))
        for u in spec.usage_prices
    ]


def _describe_usage(u: UsagePrice, cur: str, label: str) -> list[str]:
    parts: list[str] = []
    if u.included_units:
        parts.append(f"includes {u.included_units:,} {label}")
    then = "then " if u.included_units else ""
    if u.model is PriceModel.UNIT:
        assert u.unit_amount is not None
        parts.append(f"{then}{_unit_price(u.unit_amount, cur)} per unit of {label}")
    elif u.model is PriceModel.PACKAGE:
        assert u.unit_amount is not None and u.package_size is not None
        parts.append(f"{then}{_unit_price(u.unit_amount, cur)} per {u.package_size:,} {label}")
    else:
        tiers: list[str] = []
        lower = 0
        for t in u.tiers:
            text = f"{_tier_range(lower, t.up_to)} at {_unit_price(t.unit_amount, cur)}"
            if t.flat_amount:
                text += f" + {format_amount(t.flat_amount, cur)}"
            tiers.append(text)
            lower = t.up_to or lower
        how = "graduated" if u.model is PriceModel.GRADUATED else "volume"
        parts.append(f"{then}{label} {how}: " + ", ".join(tiers))
    return parts


def quota_remaining(quota: int | None, used: Decimal | int) -> Decimal | None:
    """Units left under a hard quota (never negative); ``None`` when there is no quota."""
    if quota is None:
        return None
    left = Decimal(quota) - (used if isinstance(used, Decimal) else Decimal(used))
    return left if left > 0 else Decimal(0)
