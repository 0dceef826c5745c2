"""Invoice lines and rated invoices: the result types of rating, and how lines are built.

``InvoiceLine`` is one line of an invoice (a flat fee, an included allowance, a usage
price or one tier of it, a tier's flat amount, a proration credit/charge);
``RatedInvoice`` is the lines of one billing period and their total. Every line is made
by ``_line``, which applies the one rounding rule (``round_line``: half-up to the
currency's minor unit) to the exact amount, so no other code rounds a line.

The underscore helpers (``_line``, ``_qty``, ``_unit_price``, ``_fmt_day``, ``_num``,
``_ZERO``) are shared by the other rating modules of this package
(``tollway.pricing.usage``, ``.invoice``, ``.estimates``); they are not public API.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from tollway.domain.money import MONEY_CONTEXT, format_amount, minor_units, round_line
from tollway.domain.periods import Period

__all__ = ["InvoiceLine", "LineKind", "RatedInvoice"]

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
    """The lines of one invoice and their total.

    ``before_tax``: tax is computed by the billing provider on top of ``total`` (Stripe
    Tax); the estimate then says "before tax". ``False``: no tax is added.
    """

    lines: list[InvoiceLine]
    total: Decimal
    currency: str
    period: Period | None = None
    before_tax: bool = False

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
            "before_tax": self.before_tax,
        }

    def by_price(self) -> dict[str, Decimal]:
        """Line amounts summed per price, keyed by meter (``"flat_fee"`` for the fee):
        the amounts of the invoice lines a Stripe invoice has, one per price."""
        out: dict[str, Decimal] = {}
        for ln in self.lines:
            key = ln.meter or ln.kind.value
            out[key] = out.get(key, _ZERO) + ln.amount
        return out


def _num(d: Decimal) -> str:
    return f"{d:f}"


def _qty(d: Decimal) -> str:
    """Quantity for humans: ``1,234`` or ``12.5``."""
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d.normalize(context=MONEY_CONTEXT):,f}"


@lru_cache(maxsize=4096)
def _unit_price(d: Decimal, currency: str) -> str:
    """A unit price for humans (``$0.0001``): never rounded below its own precision."""
    return format_amount(d, currency)


def _fmt_day(dt: datetime) -> str:
    """A proration boundary for humans: the date, with the time only if it is not 00:00."""
    return dt.strftime("%Y-%m-%d %H:%M") if (dt.hour or dt.minute) else dt.strftime("%Y-%m-%d")


def _line(
    kind: LineKind,
    description: str,
    quantity: Decimal,
    unit_amount: Decimal | None,
    exact: Decimal,
    currency: str,
    **kw: Any,
) -> InvoiceLine:
    """An invoice line: ``exact`` rounded once (the rounding rule), kept alongside."""
    return InvoiceLine(
        kind=kind,
        description=description,
        quantity=quantity,
        unit_amount=unit_amount,
        amount=round_line(exact, currency),
        exact_amount=exact,
        **kw,
    )
