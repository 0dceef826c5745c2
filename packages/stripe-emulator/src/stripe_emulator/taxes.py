"""Stripe Tax, as the emulator models it: ``automatic_tax[enabled]`` on invoices.

Stripe computes tax only where the account is registered; a sandbox without
registrations computes zero. The emulator charges ``EmulatorSettings.tax_rates``
(percent per customer address country, empty by default) on each line's amount after
discounts, rounded half up per line, ``exclusive`` (added on top). A customer without
an address country leaves ``automatic_tax.status`` at ``requires_location_inputs`` and
no tax; otherwise the status is ``complete``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .context import Ctx
from .state import Obj


def country_of(customer: Obj) -> str:
    return str((customer.get("address") or {}).get("country") or "").upper()


def apply(ctx: Ctx, inv: Obj, customer: Obj) -> int:
    """Set the lines' ``taxes`` and the invoice's ``total_taxes``; returns the tax."""
    lines = inv["lines"]["data"]
    for li in lines:
        li["taxes"] = []
    inv["total_taxes"] = []
    auto = inv["automatic_tax"]
    if not auto.get("enabled"):
        auto["status"] = None
        return 0
    country = country_of(customer)
    if not country:
        auto["status"] = "requires_location_inputs"
        return 0
    auto["status"] = "complete"
    rate = ctx.settings.tax_rates.get(country)
    total = taxable_total = 0
    for li in lines:
        taxable = li["amount"] - sum(d["amount"] for d in li.get("discount_amounts") or [])
        amount = 0
        if rate:
            exact = Decimal(taxable) * Decimal(str(rate)) / 100
            amount = int(exact.quantize(Decimal(1), ROUND_HALF_UP))
        li["taxes"] = [_tax(amount, taxable, country, rate)]
        total += amount
        taxable_total += taxable
    inv["total_taxes"] = [_tax(total, taxable_total, country, rate)] if lines else []
    return total


def _tax(amount: int, taxable: int, country: str, rate: float | None) -> Obj:
    return {
        "amount": amount,
        "tax_behavior": "exclusive",
        "tax_rate_details": {"tax_rate": f"txr_emu_{country.lower()}"} if rate else None,
        "taxability_reason": "standard_rated" if rate else "not_collecting",
        "taxable_amount": taxable,
        "type": "tax_rate_details",
    }
