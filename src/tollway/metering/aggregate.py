"""Folding usage events into incremental, mergeable aggregates.

An aggregate is the state of one meter for one subscription over one window (a billing
period, or a fixed slice such as an hour), keyed by
``AggregateKey(subscription_id, meter_key, window_start_ms)``.

* **Incremental**: ``AggregateTable.fold`` adds a batch of events to what is there.
* **Mergeable**: ``merge(a, b)`` of the aggregates of two *disjoint* sets of events
  equals the aggregate of their union, whatever the split and the order (count and sum
  add, max takes the max, last takes the value of the latest event by
  ``(timestamp_ms, event_id)``, distinct unites exact sets). This is what lets many
  gateway workers aggregate in parallel and a crashed worker catch up. Events must be
  deduplicated (by ``event_id``, the ledger does it) before folding: merging the same
  event twice counts it twice, except for max/last/distinct.
* **Exact**: integers stay integers, ``usage_value`` sums are exact Decimals, distinct
  counts keep the exact set of ids (no sketches: they are billed).

The fold is batched for speed: filtering, key extraction and counting run through
C-level iterators (``map``/``compress``/``Counter``) rather than a Python loop per
event wherever the metric allows.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from itertools import compress, repeat
from operator import attrgetter, floordiv, is_not, mul
from typing import Any, NamedTuple, Protocol, cast, overload

from tollway.domain.money import MONEY_CONTEXT
from tollway.domain.periods import (
    BillingInterval,
    Period,
    as_utc,
    bounds_ms,
    period_containing,
)
from tollway.metering.events import UsageEvent
from tollway.metering.meters import Aggregation, MeterDefinition, MeterField

__all__ = [
    "Aggregate",
    "AggregateKey",
    "AggregateTable",
    "BillingPeriods",
    "FixedWindows",
    "Grouping",
    "SingleWindow",
    "Windowing",
    "fold",
    "merge",
]

Num = int | Decimal
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_get_sub = attrgetter("subscription_id")
_get_ts = attrgetter("timestamp_ms")
_get_id = attrgetter("event_id")
_get_status = attrgetter("status")


class AggregateKey(NamedTuple):
    subscription_id: str
    meter_key: str
    window_start_ms: int


@dataclass(slots=True)
class Aggregate:
    """The state of one meter over one window. Use ``.value`` for the quantity."""

    aggregation: Aggregation
    events: int = 0  # events folded in
    num: Num | None = None  # sum / max / last value (count uses ``events``)
    last_order: tuple[int, str] | None = None  # (timestamp_ms, event_id) of ``last``
    ids: set[str] | None = field(default=None)  # distinct

    @property
    def value(self) -> Decimal:
        """The metered quantity: count, sum, max, last value or number of distinct ids."""
        agg = self.aggregation
        if agg is Aggregation.COUNT:
            return Decimal(self.events)
        if agg is Aggregation.DISTINCT:
            return Decimal(len(self.ids) if self.ids else 0)
        if self.num is None:
            return _ZERO
        return self.num if isinstance(self.num, Decimal) else Decimal(self.num)

    def copy(self) -> Aggregate:
        return Aggregate(
            self.aggregation,
            self.events,
            self.num,
            self.last_order,
            None if self.ids is None else set(self.ids),
        )

    def merge_in(self, other: Aggregate) -> None:
        """Add ``other`` (the aggregate of a disjoint set of events) to this one."""
        if other.aggregation is not self.aggregation:
            raise ValueError(f"cannot merge {other.aggregation} into {self.aggregation}")
        self.events += other.events
        agg = self.aggregation
        if agg is Aggregation.SUM:
            if other.num is not None:
                self.num = other.num if self.num is None else _add(self.num, other.num)
        elif agg is Aggregation.MAX:
            if other.num is not None and (self.num is None or other.num > self.num):
                self.num = other.num
        elif agg is Aggregation.LAST:
            if other.last_order is not None and (
                self.last_order is None or other.last_order > self.last_order
            ):
                self.last_order = other.last_order
                self.num = other.num
        elif agg is Aggregation.DISTINCT and other.ids:
            if self.ids is None:
                self.ids = set(other.ids)
            else:
                self.ids |= other.ids

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (for persisting aggregates); ``from_dict`` reads it back."""
        return {
            "aggregation": self.aggregation.value,
            "events": self.events,
            "num": None if self.num is None else str(self.num),
            "last_order": None if self.last_order is None else list(self.last_order),
            "ids": None if self.ids is None else sorted(self.ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aggregate:
        raw = data.get("num")
        num: Num | None = None
        if raw is not None:
            d = Decimal(str(raw))
            num = int(d) if "." not in str(raw) and "E" not in str(raw).upper() else d
        lo = data.get("last_order")
        ids = data.get("ids")
        return cls(
            Aggregation(data["aggregation"]),
            int(data.get("events", 0)),
            num,
            None if lo is None else (int(lo[0]), str(lo[1])),
            None if ids is None else set(ids),
        )


def _add(a: Num, b: Num) -> Num:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return MONEY_CONTEXT.add(Decimal(a), Decimal(b))


# --------------------------------------------------------------------------- windows


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


# --------------------------------------------------------------------------- fold


_NUMERIC_GETTERS: dict[MeterField, Callable[[UsageEvent], Any]] = {
    f: attrgetter(f.value) for f in MeterField
}


def _select(meter: MeterDefinition, events: Sequence[UsageEvent]) -> Sequence[UsageEvent]:
    """The events the meter counts, filtered with C-level iterators."""
    flt = meter.filter
    selected: Sequence[UsageEvent] = events
    statuses = flt.statuses
    if statuses is not None:
        selected = list(compress(selected, map(statuses.__contains__, map(_get_status, selected))))
    for attr in ("api_ids", "operation_ids", "methods", "application_ids", "environments"):
        allowed: frozenset[str] | None = getattr(flt, attr)
        if allowed is not None:
            getter = attrgetter(_FILTER_ATTR[attr])
            selected = list(compress(selected, map(allowed.__contains__, map(getter, selected))))
    if meter.field is MeterField.USAGE_VALUE:
        get_uv = _NUMERIC_GETTERS[MeterField.USAGE_VALUE]
        selected = list(compress(selected, map(is_not, map(get_uv, selected), repeat(None))))
    return selected


_FILTER_ATTR = {
    "api_ids": "api_id",
    "operation_ids": "operation_id",
    "methods": "method",
    "application_ids": "application_id",
    "environments": "environment",
}


class AggregateTable:
    """Aggregates by ``AggregateKey``; fold batches of events in, merge tables."""

    __slots__ = ("items",)

    def __init__(self, items: Mapping[AggregateKey, Aggregate] | None = None) -> None:
        self.items: dict[AggregateKey, Aggregate] = dict(items) if items else {}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[AggregateKey]:
        return iter(self.items)

    def __getitem__(self, key: AggregateKey) -> Aggregate:
        return self.items[key]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggregateTable):
            return NotImplemented
        return self.items == other.items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AggregateTable({len(self.items)} aggregates)"

    def get(self, subscription_id: str, meter_key: str, window_start_ms: int) -> Aggregate | None:
        return self.items.get(AggregateKey(subscription_id, meter_key, window_start_ms))

    def value(self, subscription_id: str, meter_key: str, window_start_ms: int) -> Decimal:
        agg = self.get(subscription_id, meter_key, window_start_ms)
        return _ZERO if agg is None else agg.value

    def copy(self) -> AggregateTable:
        return AggregateTable({k: v.copy() for k, v in self.items.items()})

    def merge_in(self, other: AggregateTable) -> None:
        items = self.items
        for k, agg in other.items.items():
            mine = items.get(k)
            if mine is None:
                items[k] = agg.copy()
            else:
                mine.merge_in(agg)

    def _slot(self, key: AggregateKey, aggregation: Aggregation) -> Aggregate:
        agg = self.items.get(key)
        if agg is None:
            agg = self.items[key] = Aggregate(aggregation)
        return agg

    def fold(self, meter: MeterDefinition, events: Iterable[UsageEvent], windows: Windowing) -> int:
        """Fold a batch of (deduplicated) events into the table; returns how many the
        meter counted. ``events`` may be any iterable; a list is fastest."""
        batch = events if isinstance(events, list | tuple) else list(events)
        selected = _select(meter, batch)
        if not selected:
            return 0
        subs: list[str] = list(map(_get_sub, selected))
        ts: list[int] = list(map(_get_ts, selected))
        g = windows.group(subs, ts, Counter(subs))
        keys = g.keys
        mkey = meter.key
        agg_kind = meter.aggregation
        counting = agg_kind is Aggregation.COUNT
        slots: dict[Hashable, Aggregate] = {}
        items = self.items
        iget = items.get
        pget = g.pairs.get
        new_key = tuple.__new__
        for k, n in g.counts.items():
            s, w = cast(tuple[str, int], pget(k, k))
            ak = new_key(AggregateKey, (s, mkey, w))
            a = iget(ak)
            if a is None:
                a = items[ak] = Aggregate(agg_kind)
            a.events += n
            if not counting:
                slots[k] = a
        if counting:
            return len(selected)
        assert meter.field is not None
        values = map(_NUMERIC_GETTERS[meter.field], selected)
        if agg_kind is Aggregation.SUM:
            with localcontext(MONEY_CONTEXT):
                sums: dict[Any, Any] = dict.fromkeys(slots, 0)
                for k, v in zip(keys, values, strict=False):
                    sums[k] += v
            for k, total in sums.items():
                a = slots[k]
                a.num = total if a.num is None else _add(a.num, total)
        elif agg_kind is Aggregation.MAX:
            best: dict[Any, Any] = {}
            get = best.get
            for k, v in zip(keys, values, strict=False):
                cur = get(k)
                if cur is None or v > cur:
                    best[k] = v
            for k, m in best.items():
                a = slots[k]
                if a.num is None or m > a.num:
                    a.num = m
        elif agg_kind is Aggregation.LAST:
            latest: dict[Any, tuple[int, str, Any]] = {}
            getl = latest.get
            for k, t, eid, v in zip(keys, ts, map(_get_id, selected), values, strict=False):
                cur3 = getl(k)
                if cur3 is None or (t, eid) > (cur3[0], cur3[1]):
                    latest[k] = (t, eid, v)
            for k, (t, eid, v) in latest.items():
                a = slots[k]
                if a.last_order is None or (t, eid) > a.last_order:
                    a.last_order = (t, eid)
                    a.num = v
        else:  # DISTINCT: unique (key, id) pairs at C speed, then group the few left
            for k, v in set(zip(keys, values, strict=False)):
                a = slots[k]
                if a.ids is None:
                    a.ids = {v}
                else:
                    a.ids.add(v)
        return len(selected)

    def rollup(
        self,
        subscription_id: str,
        meter_key: str,
        aggregation: Aggregation,
        start_ms: int,
        end_ms: int,
    ) -> Aggregate:
        """Merge of every window of the subscription's meter that starts in
        ``[start_ms, end_ms)`` (e.g. hourly windows into a billing period, or the period
        so far). Windows must not straddle the range; an empty range gives a zero
        aggregate."""
        out = Aggregate(aggregation)
        for k, agg in self.items.items():
            if (
                k.subscription_id == subscription_id
                and k.meter_key == meter_key
                and start_ms <= k.window_start_ms < end_ms
            ):
                out.merge_in(agg)
        return out

    def for_subscription(self, subscription_id: str) -> dict[AggregateKey, Aggregate]:
        return {k: v for k, v in self.items.items() if k.subscription_id == subscription_id}

    def to_rows(self) -> list[dict[str, Any]]:
        """JSON-safe rows, sorted by key (for persisting or shipping to another worker)."""
        return [
            {
                "subscription_id": k.subscription_id,
                "meter_key": k.meter_key,
                "window_start_ms": k.window_start_ms,
                **v.to_dict(),
            }
            for k, v in sorted(self.items.items())
        ]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> AggregateTable:
        t = cls()
        for r in rows:
            key = AggregateKey(
                str(r["subscription_id"]), str(r["meter_key"]), int(r["window_start_ms"])
            )
            agg = Aggregate.from_dict(r)
            if key in t.items:
                t.items[key].merge_in(agg)
            else:
                t.items[key] = agg
        return t


def fold(
    meter: MeterDefinition | Sequence[MeterDefinition],
    events: Iterable[UsageEvent],
    windows: Windowing,
    into: AggregateTable | None = None,
) -> AggregateTable:
    """Fold a batch of events for one meter (or several) into ``into`` (or a new table)."""
    table = AggregateTable() if into is None else into
    meters = [meter] if isinstance(meter, MeterDefinition) else list(meter)
    batch = events if isinstance(events, list | tuple) else list(events)
    for m in meters:
        table.fold(m, batch, windows)
    return table


@overload
def merge(a: Aggregate, b: Aggregate) -> Aggregate: ...
@overload
def merge(a: AggregateTable, b: AggregateTable) -> AggregateTable: ...
def merge(
    a: Aggregate | AggregateTable, b: Aggregate | AggregateTable
) -> Aggregate | AggregateTable:
    """The aggregate of the union of two disjoint sets of events; inputs are unchanged."""
    if isinstance(a, Aggregate) and isinstance(b, Aggregate):
        out = a.copy()
        out.merge_in(b)
        return out
    if isinstance(a, AggregateTable) and isinstance(b, AggregateTable):
        t = a.copy()
        t.merge_in(b)
        return t
    raise TypeError("merge() takes two Aggregates or two AggregateTables")
