"""Billing-period arithmetic (UTC, month ends clamped like Stripe)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any


def add_interval(anchor: int, interval: str, count: int, n: int) -> int:
    """The ``n``-th period boundary after ``anchor`` for ``count`` x ``interval``."""
    if interval == "day":
        return anchor + n * count * 86400
    if interval == "week":
        return anchor + n * count * 7 * 86400
    months = n * count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def boundary(sub: dict[str, Any], n: int) -> int:
    """Boundary ``n`` of a subscription's own calendar (its anchor, interval and count)."""
    return add_interval(sub["_anchor"], sub["_interval"], sub["_interval_count"], n)
