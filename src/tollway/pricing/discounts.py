"""Coupons and the discount they give an invoice, as Stripe applies them.

A ``Coupon`` is ``percent_off`` (0 < p <= 100, at most two decimals) or ``amount_off``
(in one currency), for ``once`` (the first invoice it takes something off after it
is redeemed: a $0 trial invoice does not use it up), ``repeating`` (invoices created
within ``duration_in_months`` months of redemption) or ``forever``. ``applies_to``
limits it to some prices of the plan (Stripe's ``applies_to[products]``; here the price
keys of ``RatedInvoice.by_price``: ``"flat_fee"`` and meter keys).

Applying one (``apply_coupon``) works on the invoice's **Stripe lines**, one per price
(``RatedInvoice.by_price``), as Stripe does:

* only discountable lines count: positive amounts, not prorations (Stripe's
  ``discountable`` defaults to false for prorations and negative lines), and within
  ``applies_to``;
* ``percent_off``: each line's discount is its amount x percent, rounded half-up to
  the minor unit (``round_line``), per line;
* ``amount_off``: at most the discountable subtotal, spread over the lines in
  proportion to their amounts by the largest-remainder rule (each line first gets its
  share rounded down to the minor unit; the minor units left go one each to the lines
  with the largest remainders, earlier lines first on ties), so the shares add up to
  the discount exactly and no line is discounted below zero;
* an ``amount_off`` coupon in another currency than the invoice's gives nothing.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from tollway.domain.errors import FieldError, InvalidInput
from tollway.domain.money import (
    MONEY_CONTEXT,
    minor_unit,
    minor_units,
    normalize_currency,
    parse_decimal,
    round_line,
)
from tollway.domain.periods import as_utc
from tollway.pricing.lines import LineKind, RatedInvoice

__all__ = [
    "Coupon",
    "CouponDuration",
    "DiscountedInvoice",
    "allocate",
    "apply_coupon",
    "discount_applies",
    "discount_end",
    "parse_coupon",
]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class CouponDuration(StrEnum):
    ONCE = "once"
    REPEATING = "repeating"
    FOREVER = "forever"


@dataclass(frozen=True, slots=True)
class Coupon:
    duration: CouponDuration
    percent_off: Decimal | None = None
    amount_off: Decimal | None = None  # major units of ``currency``
    currency: str | None = None
    duration_in_months: int | None = None
    applies_to: frozenset[str] | None = None  # price keys; None = every price

    def __post_init__(self) -> None:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("a coupon has percent_off or amount_off, not both")
        if self.percent_off is not None and not _ZERO < self.percent_off <= _HUNDRED:
            raise ValueError("percent_off must be in (0, 100]")
        if self.amount_off is not None and (self.amount_off <= 0 or self.currency is None):
            raise ValueError("amount_off must be positive and have a currency")
        if (self.duration is CouponDuration.REPEATING) != (self.duration_in_months is not None):
            raise ValueError("duration_in_months goes with (and only with) repeating")
        if self.duration_in_months is not None and self.duration_in_months < 1:
            raise ValueError("duration_in_months must be >= 1")


def parse_coupon(data: Mapping[str, object], loc: tuple[str | int, ...] = ("coupon",)) -> Coupon:
    """A coupon from JSON (Stripe's field names; ``amount_off`` as a decimal string in
    major units); ``InvalidInput`` naming every bad field."""
    errors: list[FieldError] = []
    allowed = {"duration", "percent_off", "amount_off", "currency", "duration_in_months",
               "applies_to"}  # fmt: skip
    errors += [FieldError((*loc, k), "unknown field") for k in data if k not in allowed]
    try:
        duration = CouponDuration(str(data.get("duration", "")))
    except ValueError:
        errors.append(FieldError((*loc, "duration"), "one of: once, repeating, forever"))
        duration = CouponDuration.ONCE
    percent = amount = None
    currency = None
    try:
        if data.get("percent_off") is not None:
            percent = parse_decimal(data["percent_off"], (*loc, "percent_off"), max_places=2)
        if data.get("amount_off") is not None:
            currency = normalize_currency(str(data.get("currency") or ""))
            places = minor_units(currency) if currency else 0
            amount = parse_decimal(data["amount_off"], (*loc, "amount_off"), max_places=places)
    except InvalidInput as exc:
        errors += exc.errors
    months = data.get("duration_in_months")
    if months is not None and (isinstance(months, bool) or not isinstance(months, int)):
        errors.append(FieldError((*loc, "duration_in_months"), "must be an integer"))
        months = None
    applies = data.get("applies_to")
    if applies is not None and not (
        isinstance(applies, list) and all(isinstance(k, str) for k in applies)
    ):
        errors.append(FieldError((*loc, "applies_to"), "must be a list of price keys"))
        applies = None
    if errors:
        raise InvalidInput(f"{errors[0].pointer}: {errors[0].message}", errors)
    try:
        return Coupon(
            duration=duration,
            percent_off=percent,
            amount_off=amount,
            currency=currency,
            duration_in_months=months if isinstance(months, int) else None,
            applies_to=None if applies is None else frozenset(str(k) for k in applies),
        )
    except ValueError as exc:
        raise InvalidInput.at(loc, str(exc)) from None


def discount_end(coupon: Coupon, redeemed_at: datetime) -> datetime | None:
    """When a discount from ``coupon`` redeemed at ``redeemed_at`` stops applying:
    ``duration_in_months`` calendar months later for ``repeating`` (month ends clamped,
    as billing periods are), never for ``forever``; ``once`` ends after one invoice."""
    if coupon.duration is not CouponDuration.REPEATING:
        return None
    assert coupon.duration_in_months is not None
    at = as_utc(redeemed_at)
    y, m0 = divmod(at.year * 12 + at.month - 1 + coupon.duration_in_months, 12)
    return at.replace(year=y, month=m0 + 1, day=min(at.day, calendar.monthrange(y, m0 + 1)[1]))


def discount_applies(
    coupon: Coupon, redeemed_at: datetime, invoice_at: datetime, *, invoices_before: int
) -> bool:
    """Whether an invoice created at ``invoice_at`` gets the discount. ``invoices_before``
    counts the invoices it already took something off (``once``: the first only)."""
    at, start = as_utc(invoice_at), as_utc(redeemed_at)
    if at < start:
        return False
    if coupon.duration is CouponDuration.ONCE:
        return invoices_before == 0
    end = discount_end(coupon, start)
    return end is None or at < end


@dataclass(frozen=True, slots=True)
class DiscountedInvoice:
    """An invoice with a coupon applied: the discount of each Stripe line (by price
    key), the total discount and what is left to pay (before tax, if any)."""

    invoice: RatedInvoice
    coupon: Coupon | None
    line_discounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def subtotal(self) -> Decimal:
        return self.invoice.total

    @property
    def discount(self) -> Decimal:
        return sum(self.line_discounts.values(), _ZERO)

    @property
    def total(self) -> Decimal:
        return self.subtotal - self.discount


def _discountable(invoice: RatedInvoice, coupon: Coupon) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = {}
    for ln in invoice.lines:
        if ln.kind is LineKind.PRORATION:
            continue
        key = ln.meter or ln.kind.value
        amounts[key] = amounts.get(key, _ZERO) + ln.amount
    return {
        k: a
        for k, a in amounts.items()
        if a > 0 and (coupon.applies_to is None or k in coupon.applies_to)
    }


def apply_coupon(invoice: RatedInvoice, coupon: Coupon | None) -> DiscountedInvoice:
    """The invoice with ``coupon``'s discount, line by line (see the module docstring)."""
    if coupon is None:
        return DiscountedInvoice(invoice, None)
    lines = _discountable(invoice, coupon)
    cur = invoice.currency
    if coupon.percent_off is not None:
        pct = coupon.percent_off
        return DiscountedInvoice(
            invoice,
            coupon,
            {
                k: round_line(MONEY_CONTEXT.multiply(a, pct) / _HUNDRED, cur)
                for k, a in lines.items()
            },
        )
    assert coupon.amount_off is not None and coupon.currency is not None
    if normalize_currency(coupon.currency) != cur or not lines:
        return DiscountedInvoice(invoice, coupon, {k: _ZERO for k in lines})
    return DiscountedInvoice(invoice, coupon, allocate(coupon.amount_off, lines, cur))


def allocate(amount: Decimal, weights: Mapping[str, Decimal], currency: str) -> dict[str, Decimal]:
    """``min(amount, sum(weights))`` split over ``weights`` in proportion, in whole minor
    units, by the largest-remainder rule (shares add up exactly, none above its weight)."""
    unit = minor_unit(currency)
    total = sum(weights.values(), _ZERO)
    spread = min(amount, total)
    if total <= 0:
        return {k: _ZERO for k in weights}
    shares: dict[str, Decimal] = {}
    remainders: list[tuple[Decimal, int, str]] = []
    for i, (key, weight) in enumerate(weights.items()):
        exact = MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(spread, weight), total)
        floor = exact.quantize(unit, rounding=ROUND_FLOOR, context=MONEY_CONTEXT)
        shares[key] = floor
        remainders.append((exact - floor, -i, key))
    left = int((spread - sum(shares.values(), _ZERO)) / unit)
    for _, _, key in sorted(remainders, reverse=True)[:left]:
        shares[key] += unit
    return shares
