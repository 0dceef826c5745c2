"""Aggregate values: the state of one meter over one window, and how two states merge.

``AggregateKey(subscription_id, meter_key, window_start_ms)`` names an aggregate;
``Aggregate`` holds its state. ``Aggregate.merge_in`` is the merge law: for the
aggregates of two *disjoint* sets of events it gives the aggregate of their union,
whatever the split and the order (count and sum add, max takes the max, last takes the
value of the latest event by ``(timestamp_ms, event_id)``, distinct unites exact sets).
Integers stay integers and ``usage_value`` sums are exact Decimals. ``to_dict`` /
``from_dict`` persist one aggregate.

Part of ``tollway.metering.aggregate`` (which re-exports the public names).

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from tollway.domain.money import MONEY_CONTEXT
from tollway.metering.meters import Aggregation

__all__ = ["Aggregate", "AggregateKey", "Num"]

Num = int | Decimal
_ZERO = Decimal(0)


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
    """Exact sum: ``int`` while both are ints, else a Decimal in ``MONEY_CONTEXT``."""
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return MONEY_CONTEXT.add(Decimal(a), Decimal(b))
