"""Rating: a pricing + a usage quantity (+ a period) -> invoice lines and a total.

This module is the public entry point of rating; the work is split by concern:

* ``tollway.pricing.lines`` - ``InvoiceLine``, ``RatedInvoice``, ``LineKind`` and the
  one place a line is rounded;
* ``tollway.pricing.usage`` - the usage lines of each price model (``usage_amount``);
* ``tollway.pricing.invoice`` - invoice assembly: flat fee and proration, ``rate``,
  ``rate_aggregates``, ``plan_change_lines``;
* ``tollway.pricing.estimates`` - ``estimate_current_period``, ``describe_pricing``,
  ``quota_remaining``.

Everything is re-exported here: import from ``tollway.pricing.rating``.

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
* A zero quantity reaches no tier's units, but with no included units the first
  tier's flat amount is still charged, as Stripe does.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from tollway.pricing.estimates import (
    CostEstimate,
    describe_pricing,
    describe_usage_prices,
    estimate_current_period,
    quota_remaining,
)
from tollway.pricing.invoice import HasValue, plan_change_lines, rate, rate_aggregates
from tollway.pricing.lines import InvoiceLine, LineKind, RatedInvoice
from tollway.pricing.usage import usage_amount

__all__ = [
    "CostEstimate",
    "HasValue",
    "InvoiceLine",
    "LineKind",
    "RatedInvoice",
    "describe_pricing",
    "describe_usage_prices",
    "estimate_current_period",
    "plan_change_lines",
    "quota_remaining",
    "rate",
    "rate_aggregates",
    "usage_amount",
]
