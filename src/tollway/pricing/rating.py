"""Rating: a pricing + a usage quantity (+ a period) -> invoice lines and a total.

Every line is computed exactly and rounded once with ``round_line`` (half-up to the
currency's minor unit); the total is the sum of the rounded lines, so the invoice
always adds up. Rules, per model (see docs/pricing.md):

* **flat fee** - one line per period, prorated by exact time when a ``proration``
  window is given.
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
* A zero quantity reaches no tier: it costs nothing (no tier flat amount either).

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from tollway.domain.money import (
    MONEY_CONTEXT,
    format_amount,
    minor_units,
    normalize_currency,
    round_line,
)
from tollway.domain.periods import Period, as_utc, prorate
from tollway.pricing.spec import PriceModel, PricingSpec, Tier, format_unit_amount

__all__ = [
    "CostEstimate",
    "HasValue",
    "InvoiceLine",
    "LineKind",
    "RatedInvoice",
    "describe_pricing",
    "estimate_current_period",
    "plan_change_lines",
    "quota_remaining",
    "rate",
    "rate_aggregates",
    "usage_amount",
]

_ZERO = Decimal(0)


class LineKind(StrEnum):
    FLAT_FEE = "flat_fee"
    INCLUDED = "included"
    USAGE = "usage"  # unit / package / one tier's units
    TIER_FLAT = "tier_flat"  # a tier's flat amount
    PRORATION = "proration"  # credit or charge for a plan change


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    kind: LineKind
    description: str  # readable on an invoice: "Requests 11-25 (tier 2): 15 x $0.80"
    quantity: Decimal  # units (packages for the package model; 1 for fees)
    unit_amount: Decimal | None  # price per unit/package, unrounded; None for flat lines
    amount: Decimal  # rounded to the currency's minor unit: the ONE rounding
    exact_amount: Decimal  # before rounding
    meter: str | None = None
    tier: int | None = None  # 1-based tier number (graduated/volume)
    first_unit: Decimal | None = None  # tier range covered, in overage units (1-based)
    last_unit: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "description": self.description,
            "quantity": _num(self.quantity),
            "unit_amount": None if self.unit_amount is None else _num(self.unit_amount),
            "amount": str(self.amount),
            "meter": self.meter,
            "tier": self.tier,
        }


@dataclass(frozen=True, slots=True)
class RatedInvoice:
    lines: list[InvoiceLine]
    total: Decimal
    currency: str
    period: Period | None = None

    @property
    def total_minor(self) -> int:
        return int(self.total.scaleb(minor_units(self.currency), context=MONEY_CONTEXT))

    @property
    def usage_total(self) -> Decimal:
        return sum(
            (ln.amount for ln in self.lines if ln.kind in (LineKind.USAGE, LineKind.TIER_FLAT)),
            _ZERO,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "total": str(self.total),
            "period": None
            if self.period is None
            else {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "lines": [ln.to_dict() for ln in self.lines],
        }


def _num(d: Decimal) -> str:
    return f"{d:f}"


def _qty(d: Decimal) -> str:
    """Quantity for humans: ``1,234`` or ``12.5``."""
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d.normalize(context=MONEY_CONTEXT):,f}"


@lru_cache(maxsize=4096)
def _unit_price(d: Decimal, currency: str) -> str:
    n = minor_units(currency)
    return format_amount(Decimal(format_unit_amount(d, n)), currency)


def _line(
    kind: LineKind,
    description: str,
    quantity: Decimal,
    unit_amount: Decimal | None,
    exact: Decimal,
    currency: str,
    **kw: Any,
) -> InvoiceLine:
    return InvoiceLine(
        kind=kind,
        description=description,
        quantity=quantity,
        unit_amount=unit_amount,
        amount=round_line(exact, currency),
        exact_amount=exact,
        **kw,
    )


def _as_quantity(q: Decimal | int) -> Decimal:
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
    """The usage lines (included allowance + priced overage) for a quantity of the meter."""
    q = _as_quantity(quantity)
    cur = spec.currency
    u = spec.usage
    if u is None:
        return []
    name = label or u.meter
    lines: list[InvoiceLine] = []
    included = Decimal(spec.included_units)
    if spec.included_units:
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
        extra = " beyond the included units" if spec.included_units else ""
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
    return lines


def _tier_range(lower: int, up_to: int | None) -> str:
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


def _window(
    period: Period | None, proration: Period | tuple[datetime, datetime] | None
) -> tuple[datetime, datetime] | None:
    if proration is None:
        return None
    if period is None:
        raise ValueError("proration needs the billing period")
    if isinstance(proration, Period):
        return proration.start, proration.end
    return as_utc(proration[0]), as_utc(proration[1])


def _fmt_day(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if (dt.hour or dt.minute) else dt.strftime("%Y-%m-%d")


def _flat_fee_line(
    spec: PricingSpec, period: Period | None, window: tuple[datetime, datetime] | None
) -> InvoiceLine | None:
    if not spec.flat_fee:
        return None
    cur = spec.currency
    fee = _unit_price(spec.flat_fee, cur)
    if window is None or period is None:
        return _line(
            LineKind.FLAT_FEE, f"Flat fee ({fee} per period)", Decimal(1), None, spec.flat_fee, cur
        )
    s, e = max(window[0], period.start), min(window[1], period.end)
    exact = prorate(spec.flat_fee, period, s, e)
    if exact == spec.flat_fee:
        return _line(
            LineKind.FLAT_FEE, f"Flat fee ({fee} per period)", Decimal(1), None, spec.flat_fee, cur
        )
    return _line(
        LineKind.FLAT_FEE,
        f"Flat fee ({fee} per period), prorated for {_fmt_day(s) if s < e else '-'}"
        f" to {_fmt_day(e) if s < e else '-'}",
        Decimal(1),
        None,
        exact,
        cur,
    )


def rate(
    spec: PricingSpec,
    currency: str,
    usage_quantity: Decimal | int = _ZERO,
    *,
    period: Period | None = None,
    proration: Period | tuple[datetime, datetime] | None = None,
    meter_label: str | None = None,
) -> RatedInvoice:
    """Rate one billing period: flat fee (prorated to ``proration`` if given) + usage.

    ``usage_quantity`` is the value of the plan's usage meter over the period (e.g.
    ``Aggregate.value``); it is ignored when the pricing has no usage price.
    ``proration`` is the part of ``period`` that is billed (a subscription started or
    cancelled mid-period); it needs ``period``. Included units are not prorated.
    """
    cur = normalize_currency(currency)
    if cur != spec.currency:
        raise ValueError(f"pricing is in {spec.currency}, not {cur}")
    window = _window(period, proration)
    lines: list[InvoiceLine] = []
    flat = _flat_fee_line(spec, period, window)
    if flat is not None:
        lines.append(flat)
    lines.extend(usage_amount(spec, usage_quantity, label=meter_label))
    total = sum((ln.amount for ln in lines), Decimal(0))
    return RatedInvoice(lines=lines, total=round_line(total, cur), currency=cur, period=period)


class HasValue(Protocol):
    """Anything with a metered ``value`` (``tollway.metering.aggregate.Aggregate``)."""

    @property
    def value(self) -> Decimal: ...


def rate_aggregates(
    spec: PricingSpec,
    currency: str,
    aggregates: Mapping[str, HasValue | Decimal],
    *,
    period: Period | None = None,
    proration: Period | tuple[datetime, datetime] | None = None,
    meter_label: str | None = None,
) -> RatedInvoice:
    """``rate`` with the quantity taken from the period's aggregates by meter key (the
    pricing's usage meter; a missing aggregate means no usage)."""
    quantity: Decimal = _ZERO
    if spec.meter is not None and spec.meter in aggregates:
        found = aggregates[spec.meter]
        quantity = found if isinstance(found, Decimal) else found.value
    return rate(
        spec, currency, quantity, period=period, proration=proration, meter_label=meter_label
    )


def plan_change_lines(
    old: PricingSpec, new: PricingSpec, period: Period, changed_at: datetime
) -> list[InvoiceLine]:
    """Proration of flat fees for a plan change at ``changed_at`` inside ``period``.

    A credit (negative line) for the unused time of the old flat fee and a charge for
    the remaining time of the new one, both by exact time, rounded per line. Usage is
    not prorated: the period's usage is rated on whichever plan the caller bills it.
    """
    if old.currency != new.currency:
        raise ValueError("a plan change cannot switch currency within a period")
    cur = old.currency
    at = as_utc(changed_at)
    out: list[InvoiceLine] = []
    if old.flat_fee:
        credit = -prorate(old.flat_fee, period, at, period.end)
        if credit:
            out.append(
                _line(
                    LineKind.PRORATION,
                    f"Unused time on the previous plan ({format_amount(old.flat_fee, cur)}"
                    f" per period) from {_fmt_day(at)}",
                    Decimal(1),
                    None,
                    credit,
                    cur,
                )
            )
    if new.flat_fee:
        charge = prorate(new.flat_fee, period, at, period.end)
        if charge:
            out.append(
                _line(
                    LineKind.PRORATION,
                    f"Remaining time on the new plan ({format_amount(new.flat_fee, cur)}"
                    f" per period) from {_fmt_day(at)}",
                    Decimal(1),
                    None,
                    charge,
                    cur,
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Estimated cost of the current period, as of ``as_of``."""

    period: Period
    as_of: datetime
    usage_so_far: Decimal
    so_far: RatedInvoice  # flat fee + usage up to now: what the invoice would be today
    projected_usage: Decimal | None  # linear projection of usage to the period end
    projected: RatedInvoice | None = field(default=None)

    @property
    def total(self) -> Decimal:
        return self.so_far.total


def estimate_current_period(
    spec: PricingSpec,
    currency: str,
    usage_so_far: Decimal | int,
    *,
    period: Period,
    as_of: datetime,
    started_at: datetime | None = None,
    project: bool = True,
) -> CostEstimate:
    """ "Estimated cost for the current period": the invoice rated on usage so far, plus a
    linear projection of usage to the period end (``project=True``).

    ``started_at`` (a subscription that began inside the period) prorates the flat fee
    and is where the projection's elapsed time starts. ``as_of`` comes from the caller's
    clock; it is clipped to the period.
    """
    used = _as_quantity(usage_so_far)
    now = min(max(as_utc(as_of), period.start), period.end)
    begin = period.start if started_at is None else max(period.start, as_utc(started_at))
    proration = (begin, period.end) if begin > period.start else None
    so_far = rate(spec, currency, used, period=period, proration=proration)
    projected_usage: Decimal | None = None
    projected: RatedInvoice | None = None
    if project:
        elapsed = _us(now - begin)
        if elapsed > 0:
            whole = _us(period.end - begin)
            projected_usage = MONEY_CONTEXT.divide(
                MONEY_CONTEXT.multiply(used, Decimal(whole)), Decimal(elapsed)
            )
            if used == used.to_integral_value():
                projected_usage = projected_usage.to_integral_value(rounding=ROUND_CEILING)
            projected = rate(spec, currency, projected_usage, period=period, proration=proration)
        else:
            projected_usage = used
            projected = so_far
    return CostEstimate(
        period=period,
        as_of=now,
        usage_so_far=used,
        so_far=so_far,
        projected_usage=projected_usage,
        projected=projected,
    )


def _us(td: timedelta) -> int:
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
    u = spec.usage
    if u is not None:
        label = unit_label or u.meter
        if spec.included_units:
            parts.append(f"includes {spec.included_units:,} {label}")
        then = "then " if spec.included_units else ""
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
    return ", ".join(parts) if parts else "Free"


def quota_remaining(quota: int | None, used: Decimal | int) -> Decimal | None:
    """Units left under a hard quota (never negative); ``None`` when there is no quota."""
    if quota is None:
        return None
    left = Decimal(quota) - (used if isinstance(used, Decimal) else Decimal(used))
    return left if left > 0 else Decimal(0)
