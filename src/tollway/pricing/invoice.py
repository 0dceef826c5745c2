"""Invoice assembly: flat fee (prorated) + usage lines -> a ``RatedInvoice``; plan-change
proration lines.

* **flat fee** - one line per period, prorated by exact time when a ``proration``
  window is given (included units are not prorated).
* **plan change** - a credit for the unused time of the old flat fee and a charge for
  the remaining time of the new one (``plan_change_lines``).
* The total is the sum of the lines, each already rounded once (``tollway.pricing.lines``),
  so the invoice always adds up.

The usage lines come from ``tollway.pricing.usage``.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tollway.domain.money import format_amount, normalize_currency, round_line
from tollway.domain.periods import Period, as_utc, prorate
from tollway.pricing.lines import (
    _ZERO,
    InvoiceLine,
    LineKind,
    RatedInvoice,
    _fmt_day,
    _line,
    _unit_price,
)
from tollway.pricing.prices import PricingSpec
from tollway.pricing.usage import usage_lines

__all__ = ["HasValue", "Quantities", "plan_change_lines", "rate", "rate_aggregates"]

#: Usage of a period: one quantity (a plan with one usage price) or quantities by meter.
Quantities = Decimal | int | Mapping[str, Decimal | int]


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


def _flat_fee_line(
    spec: PricingSpec, period: Period | None, window: tuple[datetime, datetime] | None
) -> InvoiceLine | None:
    if not spec.flat_fee:
        return None
    cur = spec.currency
    fee = _unit_price(spec.flat_fee, cur)
    if window is not None and period is not None:
        s, e = max(window[0], period.start), min(window[1], period.end)
        exact = prorate(spec.flat_fee, period, s, e)
        if exact != spec.flat_fee:
            return _line(
                LineKind.FLAT_FEE,
                f"Flat fee ({fee} per period), prorated for {_fmt_day(s) if s < e else '-'}"
                f" to {_fmt_day(e) if s < e else '-'}",
                Decimal(1),
                None,
                exact,
                cur,
            )
    return _line(
        LineKind.FLAT_FEE, f"Flat fee ({fee} per period)", Decimal(1), None, spec.flat_fee, cur
    )


def rate(
    spec: PricingSpec,
    currency: str,
    usage_quantity: Quantities = _ZERO,
    *,
    period: Period | None = None,
    proration: Period | tuple[datetime, datetime] | None = None,
    meter_label: str | None = None,
    before_tax: bool = False,
) -> RatedInvoice:
    """Rate one billing period: flat fee (prorated to ``proration`` if given) + usage.

    ``usage_quantity`` is the usage of the period: for a plan with one usage price, its
    meter's value (e.g. ``Aggregate.value``); for any plan, a mapping meter key ->
    value (a meter missing from it had no usage). It is ignored when the pricing has no
    usage price. ``proration`` is the part of ``period`` that is billed (a subscription
    started or cancelled mid-period); it needs ``period``. Included units are not
    prorated. ``before_tax`` marks the result as before tax (see ``RatedInvoice``).
    """
    cur = normalize_currency(currency)
    if cur != spec.currency:
        raise ValueError(f"pricing is in {spec.currency}, not {cur}")
    window = _window(period, proration)
    lines: list[InvoiceLine] = []
    flat = _flat_fee_line(spec, period, window)
    if flat is not None:
        lines.append(flat)
    quantities = _by_meter(spec, usage_quantity)
    for u in spec.usage_prices:
        label = meter_label if len(spec.usage_prices) == 1 else None
        lines.extend(usage_lines(u, cur, quantities.get(u.meter, _ZERO), label=label))
    total = sum((ln.amount for ln in lines), Decimal(0))
    return RatedInvoice(
        lines=lines,
        total=round_line(total, cur),
        currency=cur,
        period=period,
        before_tax=before_tax,
    )


def _by_meter(spec: PricingSpec, quantity: Quantities) -> Mapping[str, Decimal | int]:
    if isinstance(quantity, Mapping):
        return quantity
    if len(spec.usage_prices) > 1:
        raise ValueError("a plan with several usage prices is rated on quantities by meter")
    if not spec.usage_prices:
        return {}
    return {spec.usage_prices[0].meter: quantity}


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
    before_tax: bool = False,
) -> RatedInvoice:
    """``rate`` with the quantities taken from the period's aggregates by meter key (a
    missing aggregate means no usage)."""
    quantities: dict[str, Decimal | int] = {}
    for meter in spec.meters:
        if meter in aggregates:
            found = aggregates[meter]
            quantities[meter] = found if isinstance(found, Decimal) else found.value
    return rate(
        spec,
        currency,
        quantities,
        period=period,
        proration=proration,
        meter_label=meter_label,
        before_tax=before_tax,
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
