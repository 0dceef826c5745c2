"""Worked examples of docs/pricing.md ("Plans that sell" and "Spend"): a coupon on a
hybrid plan, a trial, a mid-period upgrade with usage on both sides, a custom
interval, spend so far. The numbers here are the ones the docs show."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tollway.domain.errors import InvalidInput
from tollway.domain.money import round_line
from tollway.domain.periods import (
    Period,
    period_containing,
    prorate,
    stripe_recurring,
    validate_interval_count,
)
from tollway.pricing.changes import (
    ProrationBehavior,
    Trial,
    TrialEndBehavior,
    invoice_after_change,
    plan_change,
    rate_trial,
    status_after_trial,
    trial_period,
)
from tollway.pricing.discounts import (
    Coupon,
    CouponDuration,
    apply_coupon,
    discount_applies,
    discount_end,
    parse_coupon,
)
from tollway.pricing.rating import rate
from tollway.pricing.spec import parse_pricing
from tollway.pricing.spend import SpendRater, remaining

D = Decimal
HYBRID: dict[str, Any] = {
    "flat_fee": "49.00",
    "included_units": 10000,
    "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
}
BASIC: dict[str, Any] = {
    "flat_fee": "10.00",
    "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"},
}
PRO: dict[str, Any] = {
    "flat_fee": "50.00",
    "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.005"},
}
MARCH = Period(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def test_percent_coupon_on_a_hybrid_plan_is_rounded_per_line() -> None:
    """$49 + 15,000 requests beyond 10,000 included at $0.002 = $79.00; 15 % off is
    $7.35 on the fee and $4.50 on the usage (4.5015 rounded per line): $67.15."""
    spec = parse_pricing(HYBRID, "USD")
    rated = rate(spec, "USD", 25_000)
    assert rated.by_price() == {"flat_fee": D("49.00"), "requests": D("30.00")}
    rated = rate(spec, "USD", 25_005)  # 15,005 x $0.002 = $30.01
    off = apply_coupon(rated, Coupon(CouponDuration.FOREVER, percent_off=D(15)))
    assert off.line_discounts == {"flat_fee": D("7.35"), "requests": D("4.50")}
    assert (off.subtotal, off.discount, off.total) == (D("79.01"), D("11.85"), D("67.16"))


def test_amount_coupon_is_spread_in_proportion_and_adds_up() -> None:
    """$10 off $49 + $30: $6.20 and $3.80 (6.2025 and 3.7975 -> largest remainder)."""
    rated = rate(parse_pricing(HYBRID, "USD"), "USD", 25_000)
    off = apply_coupon(rated, Coupon(CouponDuration.ONCE, amount_off=D(10), currency="usd"))
    assert off.line_discounts == {"flat_fee": D("6.20"), "requests": D("3.80")}
    assert off.total == D("69.00")
    big = apply_coupon(rated, Coupon(CouponDuration.ONCE, amount_off=D(500), currency="USD"))
    assert big.total == D("0.00") and big.discount == D("79.00")
    other = apply_coupon(rated, Coupon(CouponDuration.ONCE, amount_off=D(5), currency="EUR"))
    assert other.discount == 0


def test_coupons_skip_prorations_and_honour_applies_to() -> None:
    change = plan_change(
        parse_pricing(BASIC, "USD"),
        parse_pricing(PRO, "USD"),
        MARCH,
        datetime(2026, 3, 11, tzinfo=UTC),
        1000,
    )
    inv = invoice_after_change(change, parse_pricing(PRO, "USD"), MARCH, 4000)
    only_usage = Coupon(
        CouponDuration.FOREVER, percent_off=D(50), applies_to=frozenset({"requests"})
    )
    assert apply_coupon(inv, only_usage).line_discounts == {"requests": D("15.00")}


def test_coupon_durations() -> None:
    jan31 = datetime(2026, 1, 31, 12, tzinfo=UTC)
    three = Coupon(CouponDuration.REPEATING, percent_off=D(10), duration_in_months=3)
    assert discount_end(three, jan31) == datetime(2026, 4, 30, 12, tzinfo=UTC)
    assert discount_applies(three, jan31, datetime(2026, 4, 30, 11, tzinfo=UTC), invoices_before=3)
    assert not discount_applies(
        three, jan31, datetime(2026, 4, 30, 12, tzinfo=UTC), invoices_before=3
    )
    once = Coupon(CouponDuration.ONCE, percent_off=D(10))
    assert discount_applies(once, jan31, jan31, invoices_before=0)
    assert not discount_applies(once, jan31, datetime(2026, 3, 1, tzinfo=UTC), invoices_before=1)
    forever = Coupon(CouponDuration.FOREVER, amount_off=D(1), currency="USD")
    assert discount_applies(forever, jan31, datetime(2036, 1, 1, tzinfo=UTC), invoices_before=99)
    assert not discount_applies(forever, jan31, datetime(2026, 1, 1, tzinfo=UTC), invoices_before=0)


def test_parse_coupon_names_every_bad_field() -> None:
    assert parse_coupon(
        {"duration": "repeating", "percent_off": "12.5", "duration_in_months": 3}
    ) == (Coupon(CouponDuration.REPEATING, percent_off=D("12.5"), duration_in_months=3))
    with pytest.raises(InvalidInput) as ei:
        parse_coupon({"duration": "weekly", "percent_off": "1.234", "colour": "red"})
    assert {e.loc for e in ei.value.errors} == {
        ("coupon", "colour"),
        ("coupon", "duration"),
        ("coupon", "percent_off"),
    }
    with pytest.raises(InvalidInput, match="not both"):
        parse_coupon({"duration": "once", "percent_off": "5", "amount_off": "1", "currency": "usd"})


def test_trial_bills_nothing_and_the_cycle_starts_at_its_end() -> None:
    """A 14-day trial from March 1 with 3,000 requests: every line zero; the billing
    cycle is anchored on March 15."""
    spec = parse_pricing(HYBRID, "USD")
    trial = Trial(14)
    period = trial_period(datetime(2026, 3, 1, 9, tzinfo=UTC), trial)
    assert period.end == datetime(2026, 3, 15, 9, tzinfo=UTC)
    rated = rate_trial(spec, "USD", 13_000, period=period)
    assert rated.total == D("0.00") and all(ln.amount == 0 for ln in rated.lines)
    assert rated.lines[-1].quantity == 3000 and rated.lines[0].description.startswith("Trial")
    first = period_containing(period.end, "month", period.end)
    assert first == Period(period.end, datetime(2026, 4, 15, 9, tzinfo=UTC))
    assert status_after_trial(trial, has_payment_method=False) == "active"
    assert (
        status_after_trial(Trial(7, TrialEndBehavior.PAUSE), has_payment_method=False) == "paused"
    )
    assert (
        status_after_trial(Trial(7, TrialEndBehavior.CANCEL), has_payment_method=True) == "active"
    )
    with pytest.raises(ValueError):
        Trial(731)


def test_mid_period_upgrade_with_usage_on_both_sides() -> None:
    """Basic ($10 + $0.01/request) to Pro ($50 + $0.005/request) on March 11, 10 of 31
    days used: 1,000 requests before on Basic ($10.00), credit -$6.77 (10 x 21/31), charge
    $33.87 (50 x 21/31), 4,000 requests after on Pro ($20.00), April's fee $50.00:
    the invoice that closes March is $107.10."""
    basic, pro = parse_pricing(BASIC, "USD"), parse_pricing(PRO, "USD")
    at = datetime(2026, 3, 11, tzinfo=UTC)
    change = plan_change(basic, pro, MARCH, at, 1000)
    assert [ln.amount for ln in change.pending] == [D("10.00"), D("-6.77"), D("33.87")]
    assert change.billed_now == []
    closing = invoice_after_change(change, pro, MARCH, 4000)
    assert [ln.amount for ln in closing.lines] == [
        D("10.00"), D("-6.77"), D("33.87"), D("50.00"), D("20.00"),
    ]  # fmt: skip
    assert closing.total == D("107.10")
    now = plan_change(basic, pro, MARCH, at, 1000, behavior=ProrationBehavior.ALWAYS_INVOICE)
    assert now.total(now.billed_now) == D("37.10") and now.pending == []
    assert invoice_after_change(now, pro, MARCH, 4000).total == D("70.00")
    none = plan_change(basic, pro, MARCH, at, 1000, behavior=ProrationBehavior.NONE)
    assert none.lines == [] and invoice_after_change(none, pro, MARCH, 4000).total == D("70.00")
    with pytest.raises(ValueError):
        plan_change(basic, pro, MARCH, datetime(2026, 4, 1, tzinfo=UTC))


def test_proration_is_by_the_second_like_stripe() -> None:
    """Stripe: amount x (period end - proration date) / (period end - period start), to
    the second; the emulator computes the same in integer cents."""
    at = datetime(2026, 3, 11, 13, 37, 5, tzinfo=UTC)
    remaining_s = int((MARCH.end - at).total_seconds())
    whole_s = int((MARCH.end - MARCH.start).total_seconds())
    stripe_cents = (D(5000) * remaining_s / whole_s).quantize(D(1), ROUND_HALF_UP)
    assert round_line(prorate(D(50), MARCH, at, MARCH.end), "USD") == stripe_cents / 100
    assert stripe_cents == 3296


def test_custom_intervals() -> None:
    """Every 2 weeks from Monday March 2; every 3 months from January 31."""
    fortnight = period_containing(datetime(2026, 3, 2, tzinfo=UTC), "week",
                                  datetime(2026, 3, 20, tzinfo=UTC), count=2)  # fmt: skip
    assert fortnight == Period(datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))
    q = period_containing(datetime(2026, 1, 31, tzinfo=UTC), "month",
                          datetime(2026, 5, 1, tzinfo=UTC), count=3)  # fmt: skip
    assert q == Period(datetime(2026, 4, 30, tzinfo=UTC), datetime(2026, 7, 31, tzinfo=UTC))
    assert stripe_recurring("quarter", 2) == ("month", 6)
    assert stripe_recurring("day", 1095) == ("day", 1095)
    for interval, count in (("week", 157), ("month", 37), ("year", 4), ("quarter", 13), ("day", 0)):
        with pytest.raises(ValueError, match="three years"):
            validate_interval_count(interval, count)


def test_spend_so_far_and_the_cost_of_one_call() -> None:
    """$0.02 a call and a $0.10 budget: 5 calls fit, the 6th would make it $0.12."""
    rater = SpendRater(parse_pricing({"usage": {"meter": "requests", "model": "unit",
                                                "unit_amount": "0.02"}}, "USD"))  # fmt: skip
    fits = [rater.call_cost({"requests": n}, {"requests": 1}).within(D("0.10")) for n in range(7)]
    assert fits == [True] * 5 + [False] * 2
    sixth = rater.call_cost({"requests": 5}, {"requests": 1})
    assert (sixth.before, sixth.after, sixth.marginal) == (D("0.10"), D("0.12"), D("0.02"))
    assert remaining(D("0.10"), sixth.before) == 0 and remaining(D(1), D("0.30")) == D("0.70")


def test_spend_counts_included_units_tiers_and_cent_steps() -> None:
    """Hybrid plan: the first 10,000 requests are free; then $0.002 each, so the spend
    moves a cent at a time as the invoice line rounds (10,003 requests -> $0.01)."""
    rater = SpendRater(parse_pricing(HYBRID, "USD"))
    assert rater.call_cost({"requests": 9_999}, {"requests": 1}).marginal == 0
    assert rater.usage_cost({"requests": 10_002}) == D("0.00")
    assert rater.usage_cost({"requests": 10_003}) == D("0.01")
    assert rater.call_cost({"requests": 10_002}, {"requests": 1}).marginal == D("0.01")
    assert (
        rater.usage_cost({"requests": 25_000})
        == rate(parse_pricing(HYBRID, "USD"), "USD", 25_000).usage_total
    )
