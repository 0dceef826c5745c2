"""Trials and plan changes, rated as Stripe bills them.

**Trials.** A trial is its own period ``[start, start + days)`` (Stripe's
``trial_period_days``; at most 730). Nothing in it is charged: the first invoice is
$0, and the usage metered during the trial appears at zero on the invoice that ends it
(``rate_trial``). The billing cycle starts at the trial's end: the anchor is
``trial_end``. At the end, a subscription with a payment method becomes ``active`` and
is invoiced (the first paid period's flat fee, in advance); one without follows
``missing_payment_method`` (Stripe's ``trial_settings[end_behavior]``): ``create_invoice``
(``active``, the invoice waits for a payment method, then ``past_due``), ``pause``
(``paused``, no invoice) or ``cancel`` (``canceled``): ``status_after_trial``.

**Plan changes** mid-period at ``at`` (Stripe's price swap with ``billing_mode=flexible``,
which Tollway uses; see the emulator's README for the sources):

* flat fees: a credit for the old fee's unused time ``[at, end)`` and a charge for the
  new fee's remaining time, each ``fee x remaining / period`` by exact time, rounded
  half-up as a line (``plan_change_lines``);
* usage: what the old plan's meters measured over ``[start, at)`` is billed on the old
  plan's prices (tiers and included units counted over that part alone), and usage
  from ``at`` to the period end on the new plan's prices, from zero again;
* ``proration_behavior``: ``create_prorations`` puts the old usage and the fee
  prorations on the next invoice, ``always_invoice`` invoices them at the change,
  ``none`` bills neither (the old plan's usage so far is then never billed).

A change "at period end" is no proration at all: the period is billed on the old plan
and the next one on the new (Stripe: a subscription schedule phase).

Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tollway.domain.money import round_line
from tollway.domain.periods import Period, as_utc
from tollway.pricing.invoice import Quantities, plan_change_lines, rate
from tollway.pricing.lines import InvoiceLine, RatedInvoice
from tollway.pricing.prices import PricingSpec

__all__ = [
    "MAX_TRIAL_DAYS",
    "PlanChange",
    "ProrationBehavior",
    "Trial",
    "TrialEndBehavior",
    "invoice_after_change",
    "plan_change",
    "rate_trial",
    "status_after_trial",
    "trial_period",
]

#: Stripe's longest trial (``trial_period_days`` at most 730).
MAX_TRIAL_DAYS = 730
_ZERO = Decimal(0)


class TrialEndBehavior(StrEnum):
    """Stripe's ``trial_settings[end_behavior][missing_payment_method]``."""

    CREATE_INVOICE = "create_invoice"
    PAUSE = "pause"
    CANCEL = "cancel"


class ProrationBehavior(StrEnum):
    CREATE_PRORATIONS = "create_prorations"
    ALWAYS_INVOICE = "always_invoice"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Trial:
    days: int
    missing_payment_method: TrialEndBehavior = TrialEndBehavior.CREATE_INVOICE

    def __post_init__(self) -> None:
        if not 1 <= self.days <= MAX_TRIAL_DAYS:
            raise ValueError(f"a trial lasts 1 to {MAX_TRIAL_DAYS} days")


def trial_period(started_at: datetime, trial: Trial) -> Period:
    """``[started_at, started_at + days)``: whole 24-hour days, as Stripe counts them."""
    start = as_utc(started_at)
    return Period(start, start + timedelta(days=trial.days))


def rate_trial(
    spec: PricingSpec, currency: str, usage: Quantities = _ZERO, *, period: Period
) -> RatedInvoice:
    """The trial's lines: the plan's lines for the usage measured, every amount zero."""
    full = rate(spec, currency, usage, period=period)
    zero = round_line(_ZERO, full.currency)
    lines = [
        replace(ln, description=f"Trial period: {ln.description}", amount=zero, exact_amount=_ZERO)
        for ln in full.lines
    ]
    return replace(full, lines=lines, total=zero)


def status_after_trial(trial: Trial, *, has_payment_method: bool) -> str:
    """The Stripe status a subscription takes when its trial ends."""
    if has_payment_method or trial.missing_payment_method is TrialEndBehavior.CREATE_INVOICE:
        return "active"
    return "paused" if trial.missing_payment_method is TrialEndBehavior.PAUSE else "canceled"


@dataclass(frozen=True, slots=True)
class PlanChange:
    """What a mid-period plan change bills, before the period ends.

    ``old_usage``: the old plan's usage prices over ``[start, at)`` (no flat fee);
    ``prorations``: the flat-fee credit and charge. ``billed_now``: lines invoiced at
    the change (``always_invoice``); ``pending``: lines added to the next invoice
    (``create_prorations``); both empty with ``none``.
    """

    at: datetime
    behavior: ProrationBehavior
    old_usage: RatedInvoice
    prorations: list[InvoiceLine]

    @property
    def lines(self) -> list[InvoiceLine]:
        if self.behavior is ProrationBehavior.NONE:
            return []
        return [*self.old_usage.lines, *self.prorations]

    @property
    def billed_now(self) -> list[InvoiceLine]:
        return self.lines if self.behavior is ProrationBehavior.ALWAYS_INVOICE else []

    @property
    def pending(self) -> list[InvoiceLine]:
        return self.lines if self.behavior is ProrationBehavior.CREATE_PRORATIONS else []

    def total(self, lines: list[InvoiceLine]) -> Decimal:
        return sum((ln.amount for ln in lines), round_line(_ZERO, self.old_usage.currency))


def plan_change(
    old: PricingSpec,
    new: PricingSpec,
    period: Period,
    at: datetime,
    old_usage: Quantities = _ZERO,
    *,
    behavior: ProrationBehavior = ProrationBehavior.CREATE_PRORATIONS,
) -> PlanChange:
    """A change from ``old`` to ``new`` at ``at`` inside ``period``; ``old_usage`` is
    what the old plan's meters measured over ``[period.start, at)``."""
    when = as_utc(at)
    if not period.contains(when):
        raise ValueError("a mid-period change happens inside the period")
    usage_only = replace(old, flat_fee=_ZERO)
    rated_old = rate(usage_only, old.currency, old_usage)
    return PlanChange(
        at=when,
        behavior=behavior,
        old_usage=rated_old,
        prorations=plan_change_lines(old, new, period, when),
    )


def invoice_after_change(
    change: PlanChange,
    new: PricingSpec,
    period: Period,
    new_usage: Quantities = _ZERO,
    *,
    before_tax: bool = False,
) -> RatedInvoice:
    """The invoice that closes ``period`` after ``change``: its pending lines, the new
    plan's usage over ``[at, end)`` and the new flat fee for the next period (billed in
    advance, as Stripe does; a fee equal in every period)."""
    rated = rate(new, new.currency, new_usage, period=period, before_tax=before_tax)
    lines = [*change.pending, *rated.lines]
    total = sum((ln.amount for ln in lines), _ZERO)
    return replace(rated, lines=lines, total=round_line(total, new.currency))
