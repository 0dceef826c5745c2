"""Windowing: which window of its subscription each usage event falls in.

A ``Windowing`` groups a batch of events (subscription ids and timestamps) into
windows for ``AggregateTable.fold``, returning a ``Grouping``. Implementations:

* ``FixedWindows`` - fixed slices (e.g. hours) aligned on an origin;
* ``SingleWindow`` - one window for everything (the caller selected one period);
* ``BillingPeriods`` - each subscription's own billing periods (anchor + interval).

They group whole runs of events at once (C-level iterators, heaps of period
boundaries) instead of resolving each event, because the fold is on the hot path.

Part of ``tollway.metering.aggregate`` (which re-exports the public names).

Pure: no clock, no I/O.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import floordiv, mul
from typing import Any, Protocol

from tollway.domain.periods import (
    BillingInterval,
    Period,
    as_utc,
    bounds_ms,
    period_containing,
)

__all__ = ["BillingPeriods", "FixedWindows", "Grouping", "SingleWindow", "Windowing"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Grouping:
    """How a batch's events are grouped into windows (what ``Windowing.group`` returns).

    ``keys`` holds one group key per event: a subscription id when all of that
    subscription's events in the batch share one window (the common case: the fold then
    counts plain strings), else a ``(subscription_id, window_start_ms)`` pair.
    ``pairs`` resolves subscription-id keys to such pairs. ``counts`` is the number of
    events per group key. Valid until the next ``group`` call on the same windowing
    (implementations may hand out their internal state to avoid copies).
    """

    keys: Sequence[Hashable]
    pairs: Mapping[Hashable, tuple[str, int]]
    counts: Mapping[Any, int]


class Windowing(Protocol):
    """Assigns each event (subscription, timestamp) to a window of its subscription."""

    def group(
        self, subscription_ids: list[str], timestamps_ms: list[int], per_sub: Counter[str]
    ) -> Grouping:
        """Group a batch. ``per_sub`` counts the batch's events per subscription; the
        implementation may reuse (and change) it as the returned ``counts``."""
        ...

    def window_start(self, subscription_id: str, timestamp_ms: int) -> int:
        """Start (epoch ms) of the window of one event."""
        ...


_NO_PAIRS: Mapping[Hashable, tuple[str, int]] = {}


def _by_pairs(subs: list[str], starts: Iterable[int]) -> Grouping:
    keys: list[Hashable] = list(zip(subs, starts, strict=False))
    return Grouping(keys, _NO_PAIRS, Counter(keys))


def _split(
    subscription_ids: list[str],
    timestamps_ms: list[int],
    per_sub: Counter[str],
    split: set[str],
    start_of: Callable[[list[str], list[int]], list[int]],
    pairs: Mapping[Hashable, tuple[str, int]],
) -> Grouping:
    """Resolve only the events of the ``split`` subscriptions one by one."""
    keys: list[Hashable] = list(subscription_ids)
    idx = list(compress(range(len(keys)), map(split.__contains__, subscription_ids)))
    subs = [subscription_ids[i] for i in idx]
    counts: Counter[Any] = per_sub
    for s in split:
        del counts[s]
    for i, sub, w in zip(idx, subs, start_of(subs, [timestamps_ms[i] for i in idx]), strict=True):
        k = keys[i] = (sub, w)
        counts[k] += 1
    return Grouping(keys, pairs, counts)


@dataclass(frozen=True, slots=True)
class FixedWindows:
    """Windows of ``size_ms`` aligned on ``origin_ms`` (e.g. hours: ``3_600_000``)."""

    size_ms: int
    origin_ms: int = 0

    def __post_init__(self) -> None:
        if self.size_ms < 1:
            raise ValueError("size_ms must be >= 1")

    def window_start(self, subscription_id: str, timestamp_ms: int) -> int:
        o = self.origin_ms
        return o + (timestamp_ms - o) // self.size_ms * self.size_ms

    def group(
        self, subscription_ids: list[str], timestamps_ms: list[int], per_sub: Counter[str]
    ) -> Grouping:
        first = self.window_start("", min(timestamps_ms))
        if max(timestamps_ms) < first + self.size_ms:  # the whole batch is in one window
            return Grouping(subscription_ids, {s: (s, first) for s in per_sub}, per_sub)
        size, origin = self.size_ms, self.origin_ms
        if origin == 0:
            return _by_pairs(
                subscription_ids,
                map(mul, map(floordiv, timestamps_ms, repeat(size)), repeat(size)),
            )
        return _by_pairs(
            subscription_ids, [origin + (t - origin) // size * size for t in timestamps_ms]
        )


@dataclass(frozen=True, slots=True)
class SingleWindow:
    """Every event goes to one window (the caller selected the events of one period)."""

    start_ms: int

    def window_start(self, subscription_id: str, timestamp_ms: int) -> int:
        return self.start_ms

    def group(
        self, subscription_ids: list[str], timestamps_ms: list[int], per_sub: Counter[str]
    ) -> Grouping:
        start = self.start_ms
        return Grouping(subscription_ids, {s: (s, start) for s in per_sub}, per_sub)


class BillingPeriods:
    """Each subscription's own billing periods (anchor + interval): window = period.

    Built for batches that arrive roughly in time order (the gateway records events in
    order and the ledger replays them in order), and correct for any order:

    * Every subscription seen has a *current* period ``[start, end)`` (epoch ms). A
      heap of period ends finds, per batch, only the subscriptions whose current
      period ended by the batch's last timestamp, and a heap of period starts only those
      whose current period began after the batch's first timestamp (late events). All
      other subscriptions of the batch lie wholly inside their current period: their
      events are grouped by the subscription id alone, with no per-event work.
    * Subscriptions new to the batch, or whose period changes inside it, or that have
      late events, are resolved event by event (three cached periods per subscription,
      two comparisons per event in the common case).

    Unknown subscriptions raise ``KeyError``.
    """

    def __init__(
        self,
        anchors: Mapping[str, tuple[datetime, BillingInterval | str]],
    ) -> None:
        self._anchors = {k: (as_utc(a), BillingInterval(iv)) for k, (a, iv) in anchors.items()}
        self._cache: dict[str, tuple[int, int, int, int]] = {}  # per-event resolution
        self._current: dict[Hashable, tuple[str, int]] = {}  # sub -> (sub, period start)
        self._start: dict[str, int] = {}
        self._end: dict[str, int] = {}
        self._ends: list[tuple[int, str]] = []  # min-heap of (end, sub); stale entries skipped
        self._starts: list[tuple[int, str]] = []  # min-heap of (-start, sub); ditto

    def period_of(self, subscription_id: str, timestamp_ms: int) -> Period:
        anchor, iv = self._anchor(subscription_id)
        return period_containing(anchor, iv, _EPOCH + timedelta(milliseconds=timestamp_ms))

    def _anchor(self, sub: str) -> tuple[datetime, BillingInterval]:
        try:
            return self._anchors[sub]
        except KeyError:
            raise KeyError(f"no billing anchor for subscription {sub!r}") from None

    def _refresh(self, sub: str, ts: int) -> tuple[int, int, int, int]:
        anchor, iv = self._anchor(sub)
        b = bounds_ms(anchor, iv, ts, before=1, after=1)  # previous, this and next period
        out = self._cache[sub] = (b[0], b[1], b[2], b[3])
        return out

    def window_start(self, subscription_id: str, timestamp_ms: int) -> int:
        b = self._cache.get(subscription_id)
        t = timestamp_ms
        if b is None or not b[0] <= t < b[3]:
            b = self._refresh(subscription_id, t)
        lo, m1, m2, _ = b
        return lo if t < m1 else (m1 if t < m2 else m2)

    def _starts_of(self, subscription_ids: list[str], timestamps_ms: list[int]) -> list[int]:
        out: list[int] = []
        append = out.append
        get = self._cache.get
        refresh = self._refresh
        for s, t in zip(subscription_ids, timestamps_ms, strict=True):
            b = get(s)
            if b is None or not b[0] <= t < b[3]:
                b = refresh(s, t)
            lo, m1, m2, _ = b
            append(lo if t < m1 else (m1 if t < m2 else m2))
        return out

    def _set_current(self, sub: str, ts: int) -> int:
        b = self._cache.get(sub)
        if b is None or not b[0] <= ts < b[3]:
            b = self._refresh(sub, ts)
        if ts < b[1]:
            lo, hi = b[0], b[1]
        elif ts < b[2]:
            lo, hi = b[1], b[2]
        else:
            lo, hi = b[2], b[3]
        self._current[sub] = (sub, lo)
        self._start[sub] = lo
        self._end[sub] = hi
        heapq.heappush(self._ends, (hi, sub))
        heapq.heappush(self._starts, (-lo, sub))
        return lo

    def _compact(self) -> None:
        live = len(self._current)
        if len(self._ends) > 4 * live + 1024:
            self._ends = [(e, s) for s, e in self._end.items()]
            heapq.heapify(self._ends)
        if len(self._starts) > 4 * live + 1024:
            self._starts = [(-v, s) for s, v in self._start.items()]
            heapq.heapify(self._starts)

    def group(
        self, subscription_ids: list[str], timestamps_ms: list[int], per_sub: Counter[str]
    ) -> Grouping:
        tmin, tmax = min(timestamps_ms), max(timestamps_ms)
        current, start, end = self._current, self._start, self._end
        # 1. subscriptions whose current period has ended: forget it, resolve again below
        ends = self._ends
        while ends and ends[0][0] <= tmax:
            hi, s = heapq.heappop(ends)
            if end.get(s) == hi:
                del current[s], start[s], end[s]
        # 2. subscriptions whose current period started after tmin: late events, per event
        split: set[str] = set()
        starts = self._starts
        if starts and -starts[0][0] > tmin:
            back: list[tuple[int, str]] = []
            while starts and -starts[0][0] > tmin:
                item = heapq.heappop(starts)
                if start.get(item[1]) == -item[0]:
                    split.add(item[1])
                    back.append(item)
            for item in back:
                heapq.heappush(starts, item)
            split.intersection_update(per_sub.keys())
        # 3. subscriptions without a current period: the one holding tmax becomes current
        for s in per_sub.keys() - current.keys():
            if self._set_current(s, tmax) > tmin:
                split.add(s)
        self._compact()
        if not split:
            return Grouping(subscription_ids, current, per_sub)
        return _split(subscription_ids, timestamps_ms, per_sub, split, self._starts_of, current)
