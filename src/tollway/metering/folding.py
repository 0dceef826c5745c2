"""The batched fold: usage events -> an ``AggregateTable`` of aggregates, and merges.

* **Incremental**: ``AggregateTable.fold`` adds a batch of events to what is there.
* **Mergeable**: ``merge`` / ``AggregateTable.merge_in`` combine the tables of disjoint
  sets of events (see ``tollway.metering.aggregate_state`` for the law). Events must
  be deduplicated (by ``event_id``, the ledger does it) before folding.
* **Batched**: filtering, key extraction and counting run through C-level iterators
  (``map``/``compress``/``Counter``) rather than a Python loop per event wherever the
  metric allows; the windows come from a ``Windowing``
  (``tollway.metering.windows``).

``AggregateTable.to_rows`` / ``from_rows`` persist a table (or ship it to another
worker).

Part of ``tollway.metering.aggregate`` (which re-exports the public names).

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, localcontext
from itertools import compress, repeat
from operator import attrgetter, is_not
from typing import Any, cast, overload

from tollway.domain.money import MONEY_CONTEXT
from tollway.metering.aggregate_state import _ZERO, Aggregate, AggregateKey, _add
from tollway.metering.events import UsageEvent
from tollway.metering.meters import Aggregation, MeterDefinition, MeterField
from tollway.metering.windows import Windowing

__all__ = ["AggregateTable", "fold", "merge"]

_get_sub = attrgetter("subscription_id")
_get_ts = attrgetter("timestamp_ms")
_get_id = attrgetter("event_id")
_get_status = attrgetter("status")


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
