"""Billing periods from an anchor, Stripe-like month ends, proration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.domain.money import MONEY_CONTEXT
from tollway.domain.periods import (
    BillingInterval,
    Period,
    bounds_ms,
    next_period,
    overlap,
    period_containing,
    period_index,
    periods_between,
    previous_period,
    prorate,
)


def dt(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_interval_values() -> None:
    assert [i.value for i in BillingInterval] == [
        "day", "week", "month", "quarter", "half_year", "year"
    ]  # fmt: skip
    assert BillingInterval("half_year").months == 6


def test_month_end_anchor_like_stripe() -> None:
    anchor = dt(2024, 1, 31, 10)
    p = period_containing(anchor, "month", dt(2024, 2, 5))
    assert p == Period(dt(2024, 1, 31, 10), dt(2024, 2, 29, 10))  # leap year
    p = next_period(anchor, "month", p)
    assert p == Period(dt(2024, 2, 29, 10), dt(2024, 3, 31, 10))
    p = next_period(anchor, "month", p)
    assert p == Period(dt(2024, 3, 31, 10), dt(2024, 4, 30, 10))
    assert period_containing(anchor, "month", dt(2025, 2, 10)).end == dt(2025, 2, 28, 10)
    assert period_containing(anchor, "month", dt(2025, 3, 1)) == Period(
        dt(2025, 2, 28, 10), dt(2025, 3, 31, 10)
    )


def test_boundaries_are_half_open() -> None:
    anchor = dt(2026, 1, 15)
    assert period_containing(anchor, "month", dt(2026, 2, 15)).start == dt(2026, 2, 15)
    assert period_containing(
        anchor, "month", dt(2026, 2, 15) - timedelta(microseconds=1)
    ).end == dt(2026, 2, 15)


@pytest.mark.parametrize(
    ("interval", "at", "start", "end"),
    [
        ("day", dt(2026, 3, 3, 1), dt(2026, 3, 2, 12), dt(2026, 3, 3, 12)),
        ("week", dt(2026, 3, 3), dt(2026, 2, 28, 12), dt(2026, 3, 7, 12)),
        ("month", dt(2026, 3, 3), dt(2026, 2, 28, 12), dt(2026, 3, 31, 12)),
        ("quarter", dt(2026, 3, 3), dt(2026, 1, 31, 12), dt(2026, 4, 30, 12)),
        ("half_year", dt(2026, 9, 3), dt(2026, 7, 31, 12), dt(2027, 1, 31, 12)),
        ("year", dt(2026, 3, 3), dt(2026, 1, 31, 12), dt(2027, 1, 31, 12)),
        # before the anchor: periods extend backwards
        ("month", dt(2025, 12, 1), dt(2025, 11, 30, 12), dt(2025, 12, 31, 12)),
    ],
)
def test_each_interval(interval: str, at: datetime, start: datetime, end: datetime) -> None:
    anchor = dt(2026, 1, 31, 12)
    assert period_containing(anchor, interval, at) == Period(start, end)


def test_leap_day_yearly_anchor() -> None:
    anchor = dt(2024, 2, 29)
    assert period_containing(anchor, "year", dt(2025, 6, 1)) == Period(
        dt(2025, 2, 28), dt(2026, 2, 28)
    )
    assert period_containing(anchor, "year", dt(2028, 3, 1)).start == dt(2028, 2, 29)


def test_naive_is_utc_and_other_zones_convert() -> None:
    anchor = datetime(2026, 1, 1)
    p = period_containing(
        anchor, "month", datetime(2026, 1, 10, tzinfo=timezone(timedelta(hours=5)))
    )
    assert p == Period(dt(2026, 1, 1), dt(2026, 2, 1))
    assert p.start.tzinfo is UTC


def test_count_previous_and_between() -> None:
    anchor = dt(2026, 1, 1)
    p = period_containing(anchor, "month", dt(2026, 5, 5), count=2)
    assert p == Period(dt(2026, 5, 1), dt(2026, 7, 1))
    assert previous_period(anchor, "month", Period(dt(2026, 3, 1), dt(2026, 4, 1))) == Period(
        dt(2026, 2, 1), dt(2026, 3, 1)
    )
    ps = periods_between(anchor, "month", dt(2026, 1, 15), dt(2026, 3, 1))
    assert [p.start.month for p in ps] == [1, 2]
    assert periods_between(anchor, "month", dt(2026, 3, 1), dt(2026, 3, 1)) == []
    with pytest.raises(ValueError):
        period_containing(anchor, "month", dt(2026, 1, 1), count=0)
    with pytest.raises(ValueError):
        Period(dt(2026, 1, 2), dt(2026, 1, 1))


def test_period_ms() -> None:
    p = Period(dt(2026, 1, 1), dt(2026, 2, 1))
    assert p.start_ms == 1767225600000
    assert Period.from_ms(p.start_ms, p.end_ms) == p
    assert p.contains(dt(2026, 1, 31, 23, 59)) and not p.contains(dt(2026, 2, 1))


def test_prorate() -> None:
    p = Period(dt(2026, 2, 1), dt(2026, 3, 1))  # 28 days
    assert prorate(Decimal("28.00"), p, dt(2026, 2, 15), dt(2026, 3, 1)) == Decimal(14)
    assert prorate(Decimal("28.00"), p, dt(2026, 1, 1), dt(2026, 4, 1)) == Decimal("28.00")
    assert prorate(Decimal("28.00"), p, dt(2026, 3, 1), dt(2026, 4, 1)) == 0
    # a day of February is worth more than a day of March
    march = Period(dt(2026, 3, 1), dt(2026, 4, 1))
    assert prorate(Decimal(100), p, dt(2026, 2, 1), dt(2026, 2, 2)) > prorate(
        Decimal(100), march, dt(2026, 3, 1), dt(2026, 3, 2)
    )
    third = prorate(
        Decimal(10), Period(dt(2026, 1, 1), dt(2026, 1, 4)), dt(2026, 1, 1), dt(2026, 1, 2)
    )
    assert abs(third - MONEY_CONTEXT.divide(Decimal(10), Decimal(3))) < Decimal("1e-50")
    assert str(third).startswith("3.3333333333333333333333333333333")
    assert overlap(p, dt(2026, 2, 27), dt(2026, 3, 5)) == timedelta(days=2)


anchors = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2070, 1, 1), timezones=st.just(UTC)
)
intervals = st.sampled_from(list(BillingInterval))


@given(anchors, intervals, instants, st.integers(1, 3))
def test_period_contains_and_chains(a: datetime, iv: BillingInterval, at: datetime, n: int) -> None:
    p = period_containing(a, iv, at, count=n)
    assert p.start <= at < p.end
    q = next_period(a, iv, p, count=n)
    assert q.start == p.end
    assert previous_period(a, iv, q, count=n) == p
    k = period_index(a, iv, at, count=n)
    assert period_containing(a, iv, a, count=n).start == a  # the anchor starts a period
    assert k == period_index(a, iv, p.start, count=n)
    # every boundary keeps the anchor's time of day and (clamped) day of month
    if iv.months:
        assert (p.start.hour, p.start.minute, p.start.second) == (a.hour, a.minute, a.second)
        assert (
            p.start.day == a.day
            or p.start.day < a.day
            and (p.start + timedelta(days=1)).month != p.start.month
        )


@settings(max_examples=300)
@given(anchors, intervals, instants)
def test_bounds_ms_agree_with_period_containing(
    a: datetime, iv: BillingInterval, at: datetime
) -> None:
    at_ms = int((at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    at_ms_dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at_ms)
    b = bounds_ms(a, iv, at_ms, before=1, after=1)
    p = period_containing(a, iv, at_ms_dt)
    assert b[1] <= at_ms < b[2]
    assert b[1] == -(
        -int((p.start - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) // 1000
    )
    assert b[0] < b[1] < b[2] < b[3]
