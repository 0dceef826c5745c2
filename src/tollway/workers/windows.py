"""Usage windows and their identifiers (pure).

Usage is pushed per (subscription, meter, window). Windows are fixed buckets of
``window_ms`` aligned to the Unix epoch, split at the subscription's billing-period
boundaries so that no window straddles two periods. A window's meter-event timestamp is
its start, so it always lands in the period its events belong to.

The identifier of a push is ``tw_<subscription>_<meter hash>_<window start ms>_<seq>``:
the same window and sequence number always give the same identifier. ``seq`` 0 is the
window's first push; a late event in an already pushed window produces a correction
push with the next ``seq`` carrying only the difference.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tollway.metering.events import UsageEvent
from tollway.metering.meters import Aggregation, MeterDefinition


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    end_ms: int

    @property
    def timestamp_s(self) -> int:
        """The meter-event timestamp: the window start, rounded up to a whole second so it
        never falls before a period boundary that is not on a whole second."""
        return -(-self.start_ms // 1000)


def window_of(ts_ms: int, window_ms: int, boundaries_ms: Iterable[int] = ()) -> Window:
    """The window containing ``ts_ms``: its epoch-aligned bucket, cut at boundaries."""
    start = ts_ms - ts_ms % window_ms
    end = start + window_ms
    for b in sorted(boundaries_ms):
        if start < b <= ts_ms:
            start = b
        elif ts_ms < b < end:
            end = b
    return Window(start, end)


def meter_tag(meter_key: str) -> str:
    return hashlib.sha256(meter_key.encode()).hexdigest()[:8]


def identifier(subscription_id: str, meter_key: str, window_start_ms: int, seq: int) -> str:
    return f"tw_{subscription_id}_{meter_tag(meter_key)}_{window_start_ms}_{seq}"


def floor_to(ts: int, step: int) -> int:
    return ts - ts % step


def measure(meter: MeterDefinition, events: Sequence[UsageEvent]) -> Decimal:
    """The meter's value over ``events`` (already deduplicated by the ledger)."""
    selected = [e for e in events if meter.matches(e)]
    agg = meter.aggregation
    if agg is Aggregation.COUNT:
        return Decimal(len(selected))
    if not selected:
        return Decimal(0)
    assert meter.field is not None
    name = meter.field.value
    if agg is Aggregation.DISTINCT:
        return Decimal(len({getattr(e, name) for e in selected}))
    values = [Decimal(getattr(e, name)) for e in selected]
    if agg is Aggregation.SUM:
        return sum(values, Decimal(0))
    if agg is Aggregation.MAX:
        return max(values)
    latest = max(selected, key=lambda e: (e.timestamp_ms, e.event_id))
    return Decimal(getattr(latest, name))


def by_window(
    meter: MeterDefinition,
    events: Sequence[UsageEvent],
    window_ms: int,
    boundaries: tuple[int, ...],
) -> dict[int, Decimal]:
    """Additive meters: window start -> value of the window."""
    groups: dict[int, list[UsageEvent]] = defaultdict(list)
    for e in events:
        groups[window_of(e.timestamp_ms, window_ms, boundaries).start_ms].append(e)
    return {start: measure(meter, evs) for start, evs in groups.items()}


#: The ledger columns a meter can look at, in ``UsageEvent`` field order.
EVENT_COLUMNS = (
    "event_id",
    "timestamp_ms",
    "organization_id",
    "api_id",
    "operation_id",
    "method",
    "status",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "application_id",
    "subscription_id",
    "credential_id",
    "consumer_id",
    "environment",
    "usage_value",
)


def event_from_row(r: Any) -> UsageEvent:
    """A ledger row (any row with the ``EVENT_COLUMNS``) as a ``UsageEvent``."""
    return (
        UsageEvent(*(r[i] for i in range(16)))
        if isinstance(r, tuple)
        else UsageEvent(*(getattr(r, name) for name in EVENT_COLUMNS))
    )
