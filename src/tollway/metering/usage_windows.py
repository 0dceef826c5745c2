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
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tollway.metering.aggregate import (
    Aggregate,
    AggregateTable,
    Grouping,
    SingleWindow,
    fold,
)
from tollway.metering.events import UsageEvent
from tollway.metering.meters import MeterDefinition

_ZERO = Decimal(0)


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
    """The meter's value over ``events`` (already deduplicated by the ledger), folded by
    ``tollway.metering.aggregate`` into one window."""
    return _merged(fold(meter, list(events), SingleWindow(0))).get(0, _ZERO)


@dataclass(frozen=True, slots=True)
class CutWindows:
    """``Windowing`` of ``window_of``: epoch-aligned buckets cut at period boundaries."""

    window_ms: int
    boundaries_ms: tuple[int, ...] = ()

    def window_start(self, subscription_id: str, timestamp_ms: int) -> int:
        return window_of(timestamp_ms, self.window_ms, self.boundaries_ms).start_ms

    def group(
        self, subscription_ids: list[str], timestamps_ms: list[int], per_sub: Counter[str]
    ) -> Grouping:
        starts = [self.window_start("", t) for t in timestamps_ms]
        keys: list[Hashable] = list(zip(subscription_ids, starts, strict=True))
        return Grouping(keys, {}, Counter(keys))


def by_window(
    meter: MeterDefinition,
    events: Sequence[UsageEvent],
    window_ms: int,
    boundaries: tuple[int, ...],
) -> dict[int, Decimal]:
    """Window start -> the meter's value over the window's events (windows without any
    event the meter counts are left out)."""
    return _merged(fold(meter, list(events), CutWindows(window_ms, boundaries)))


def _merged(table: AggregateTable) -> dict[int, Decimal]:
    """Window start -> value, the aggregates of every subscription in a window merged."""
    per_window: dict[int, Aggregate] = {}
    for key, agg in table.items.items():
        into = per_window.get(key.window_start_ms)
        if into is None:
            per_window[key.window_start_ms] = agg.copy()
        else:
            into.merge_in(agg)
    return {start: agg.value for start, agg in per_window.items()}
