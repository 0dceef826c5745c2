"""The billing calendar: billing intervals, periods from an anchor, proration.

Rules (also in docs/pricing.md):

* Everything is UTC. Aware datetimes are converted to UTC; **naive datetimes are taken
  to be UTC** (SQLite hands them back naive). Returned datetimes are always aware UTC.
* A period is half-open: ``[start, end)``. An instant on a boundary belongs to the
  period that starts there.
* Period boundaries are computed from the *billing anchor* (Stripe's
  ``billing_cycle_anchor``), never by stepping from the previous boundary, so they do
  not drift. Boundary ``k`` is ``anchor + k * interval`` for ``k`` in ..., -1, 0, 1, ...
  - ``day`` / ``week``: exactly 24 h / 7 x 24 h steps (UTC has no DST).
  - ``month`` / ``quarter`` (3 months) / ``half_year`` (6 months) / ``year`` (12
    months): same day-of-month and time-of-day as the anchor; when that day does not
    exist in the target month it is clamped to the month's last day. So an anchor of
    Jan 31 gives Feb 28 (Feb 29 in leap years), Mar 31, Apr 30, May 31, ... — like
    Stripe. A Feb 29 yearly anchor gives Feb 28 in common years.
* Proration (``prorate``) is by exact elapsed time: the part of the amount for the
  time of ``[start, end)`` that lies inside the period, over the period's full length,
  so a day of February is worth more than a day of March, as with Stripe (which
  prorates by the second). The result is *not* rounded: proration lines are rounded
  once, as lines, by ``tollway.domain.money.round_line``.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tollway.domain.money import MONEY_CONTEXT

__all__ = [
    "MAX_INTERVAL_COUNT",
    "BillingInterval",
    "Period",
    "as_utc",
    "boundary",
    "bounds_ms",
    "next_period",
    "overlap",
    "period_containing",
    "period_index",
    "periods_between",
    "previous_period",
    "prorate",
    "stripe_recurring",
    "validate_interval_count",
]


class BillingInterval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"  # 3 months
    HALF_YEAR = "half_year"  # 6 months
    YEAR = "year"  # 12 months

    @property
    def months(self) -> int:
        """Length in calendar months (0 for day and week)."""
        return _MONTHS.get(self, 0)


_MONTHS = {
    BillingInterval.MONTH: 1,
    BillingInterval.QUARTER: 3,
    BillingInterval.HALF_YEAR: 6,
    BillingInterval.YEAR: 12,
}
#: Stripe's longest billing cycle is three years: ``count`` at most this per interval.
MAX_INTERVAL_COUNT = {
    BillingInterval.DAY: 1095,
    BillingInterval.WEEK: 156,
    BillingInterval.MONTH: 36,
    BillingInterval.QUARTER: 12,
    BillingInterval.HALF_YEAR: 6,
    BillingInterval.YEAR: 3,
}


def validate_interval_count(interval: BillingInterval | str, count: int) -> None:
    """``ValueError`` unless ``count`` x ``interval`` is a cycle Stripe accepts (1 up to
    three years: 1095 days, 156 weeks, 36 months, 3 years)."""
    iv = BillingInterval(interval)
    most = MAX_INTERVAL_COUNT[iv]
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= most:
        raise ValueError(f"every {iv.value} count must be between 1 and {most} (three years)")


def stripe_recurring(interval: BillingInterval | str, count: int = 1) -> tuple[str, int]:
    """Stripe's ``recurring[interval]`` and ``recurring[interval_count]`` for ``count`` x
    ``interval`` (a quarter is 3 months, a half year 6)."""
    iv = BillingInterval(interval)
    validate_interval_count(iv, count)
    if iv in (BillingInterval.QUARTER, BillingInterval.HALF_YEAR):
        return "month", iv.months * count
    return iv.value, count


_FIXED = {BillingInterval.DAY: timedelta(days=1), BillingInterval.WEEK: timedelta(days=7)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(dt: datetime) -> datetime:
    """Aware UTC datetime; naive input is taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _to_ms(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC time range ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if not self.start < self.end:
            raise ValueError(f"period must end after it starts: {self.start} .. {self.end}")

    def contains(self, at: datetime) -> bool:
        return self.start <= as_utc(at) < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def start_ms(self) -> int:
        """Start as epoch milliseconds (the unit of ``UsageEvent.timestamp_ms``)."""
        return _to_ms(self.start)

    @property
    def end_ms(self) -> int:
        return _to_ms(self.end)

    @classmethod
    def from_ms(cls, start_ms: int, end_ms: int) -> Period:
        return cls(
            _EPOCH + timedelta(milliseconds=start_ms), _EPOCH + timedelta(milliseconds=end_ms)
        )


def _add_months(anchor: datetime, months: int) -> datetime:
    y, m0 = divmod(anchor.year * 12 + (anchor.month - 1) + months, 12)
    m = m0 + 1
    day = min(anchor.day, calendar.monthrange(y, m)[1])
    return anchor.replace(year=y, month=m, day=day)


def boundary(anchor: datetime, interval: BillingInterval | str, k: int, count: int = 1) -> datetime:
    """The ``k``-th period boundary from the anchor (``k`` = 0 is the anchor itself)."""
    iv = BillingInterval(interval)
    a = as_utc(anchor)
    if iv in _FIXED:
        return a + _FIXED[iv] * (k * count)
    return _add_months(a, k * iv.months * count)


def _index_containing(a: datetime, iv: BillingInterval, at: datetime, count: int) -> int:
    if iv in _FIXED:
        return (at - a) // (_FIXED[iv] * count)
    step = iv.months * count
    diff = (at.year - a.year) * 12 + (at.month - a.month)
    k = diff // step
    while _add_months(a, k * step) > at:
        k -= 1
    while _add_months(a, (k + 1) * step) <= at:
        k += 1
    return k


def period_index(
    anchor: datetime, interval: BillingInterval | str, at: datetime, *, count: int = 1
) -> int:
    """Index ``k`` of the period containing ``at``: boundary ``k <= at <`` boundary ``k+1``."""
    if count < 1:
        raise ValueError("count must be >= 1")
    return _index_containing(as_utc(anchor), BillingInterval(interval), as_utc(at), count)


_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def bounds_ms(
    anchor: datetime,
    interval: BillingInterval | str,
    at_ms: int,
    *,
    count: int = 1,
    before: int = 0,
    after: int = 0,
) -> list[int]:
    """Period boundaries around the instant ``at_ms`` (epoch ms), in epoch ms.

    Returns boundaries ``k - before .. k + 1 + after`` where period ``k`` contains
    ``at_ms``; so ``before=0, after=0`` gives ``[start_ms, end_ms]``. Same calendar as
    ``period_containing``, computed without building datetimes (the metering hot path
    calls it). A boundary that falls inside a millisecond is rounded up to the next
    one, so ``start_ms <= at_ms < end_ms`` agrees with the microsecond-exact rule.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    iv = interval if isinstance(interval, BillingInterval) else BillingInterval(interval)
    a = as_utc(anchor)
    anchor_us = ((a.toordinal() - _EPOCH_ORDINAL) * 86_400 + a.hour * 3600 + a.minute * 60
                 + a.second) * 1_000_000 + a.microsecond  # fmt: skip
    months = _MONTHS.get(iv, 0) * count
    if not months:
        step_us = (86_400_000_000 if iv is BillingInterval.DAY else 604_800_000_000) * count
        k = (at_ms * 1000 - anchor_us) // step_us
        while -(-(anchor_us + k * step_us) // 1000) > at_ms:
            k -= 1
        while -(-(anchor_us + (k + 1) * step_us) // 1000) <= at_ms:
            k += 1
        return [-(-(anchor_us + j * step_us) // 1000) for j in range(k - before, k + 2 + after)]
    tod_us = anchor_us - (a.toordinal() - _EPOCH_ORDINAL) * 86_400_000_000
    base = a.year * 12 + a.month - 1
    day = a.day
    dim = _DAYS_IN_MONTH
    fromord = date.toordinal

    def month_boundary(j: int) -> int:
        y, m0 = divmod(base + j * months, 12)
        if day <= 28:
            d = day
        elif m0 == 1:
            d = 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
            d = min(day, d)
        else:
            d = min(day, dim[m0])
        return -(-((fromord(date(y, m0 + 1, d)) - _EPOCH_ORDINAL) * 86_400_000_000 + tod_us)
                 // 1000)  # fmt: skip

    t = date.fromordinal(at_ms // 86_400_000 + _EPOCH_ORDINAL)
    # boundary k lies in month base + k*months <= t's month, and boundary k+1 in a later
    # month than t's: only boundary k itself can still be after t
    k = ((t.year * 12 + t.month - 1) - base) // months
    first = month_boundary(k)
    if first > at_ms:
        k -= 1
        out = [month_boundary(j) for j in range(k - before, k + 1)]
        out.append(first)
        out.extend(month_boundary(j) for j in range(k + 2, k + 2 + after))
        return out
    out = [month_boundary(j) for j in range(k - before, k)]
    out.append(first)
    out.extend(month_boundary(j) for j in range(k + 1, k + 2 + after))
    return out


def period_containing(
    anchor: datetime, interval: BillingInterval | str, at: datetime, *, count: int = 1
) -> Period:
    """The billing period (from ``anchor``, every ``count`` intervals) containing ``at``.

    Works before the anchor too (negative periods), which keeps the function total.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    iv = BillingInterval(interval)
    a, t = as_utc(anchor), as_utc(at)
    k = _index_containing(a, iv, t, count)
    return Period(boundary(a, iv, k, count), boundary(a, iv, k + 1, count))


def next_period(
    anchor: datetime, interval: BillingInterval | str, period: Period, *, count: int = 1
) -> Period:
    """The period right after ``period`` (which must be one of the anchor's periods)."""
    return period_containing(anchor, interval, period.end, count=count)


def previous_period(
    anchor: datetime, interval: BillingInterval | str, period: Period, *, count: int = 1
) -> Period:
    """The period right before ``period``."""
    return period_containing(
        anchor, interval, period.start - timedelta(microseconds=1), count=count
    )


def periods_between(
    anchor: datetime,
    interval: BillingInterval | str,
    start: datetime,
    end: datetime,
    *,
    count: int = 1,
) -> list[Period]:
    """All periods that overlap ``[start, end)``, in order."""
    s, e = as_utc(start), as_utc(end)
    out: list[Period] = []
    if not s < e:
        return out
    p = period_containing(anchor, interval, s, count=count)
    while p.start < e:
        out.append(p)
        p = period_containing(anchor, interval, p.end, count=count)
    return out


def overlap(period: Period, start: datetime, end: datetime) -> timedelta:
    """Length of ``[start, end)`` ∩ ``period`` (zero when they do not meet)."""
    s = max(period.start, as_utc(start))
    e = min(period.end, as_utc(end))
    return max(e - s, timedelta(0))


def _us(td: timedelta) -> int:
    return (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds


def prorate(amount: Decimal, period: Period, start: datetime, end: datetime) -> Decimal:
    """The share of ``amount`` (a per-period price) for the time ``[start, end)``.

    ``amount x |[start, end) ∩ period| / |period|``, by exact elapsed time (microsecond
    resolution), unrounded (60 significant digits). ``start``/``end`` are clipped to the
    period: a subscription that starts mid-period passes ``(started_at, period.end)``;
    a cancellation passes ``(period.start, cancelled_at)``; a plan change rates the old
    price for ``(period.start, changed_at)`` and the new one for
    ``(changed_at, period.end)``.
    """
    part = _us(overlap(period, start, end))
    whole = _us(period.duration)
    if part == whole:
        return amount
    if part == 0:
        return Decimal(0)
    return MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(amount, Decimal(part)), Decimal(whole))
