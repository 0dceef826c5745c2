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

This module is the public entry point; the work is split by concern:

* ``tollway.metering.aggregate_state`` - ``AggregateKey``, ``Aggregate`` (value,
  merge law, serialisation);
* ``tollway.metering.windows`` - ``Windowing`` and its implementations
  (``FixedWindows``, ``SingleWindow``, ``BillingPeriods``), ``Grouping``;
* ``tollway.metering.folding`` - ``AggregateTable`` (the batched fold, rollups, rows),
  ``fold`` and ``merge``.

Everything is re-exported here: import from ``tollway.metering.aggregate``.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from tollway.metering.aggregate_state import Aggregate, AggregateKey
from tollway.metering.aggregate_state import Num as Num  # type alias, not in __all__
from tollway.metering.folding import AggregateTable, fold, merge
from tollway.metering.windows import (
    BillingPeriods,
    FixedWindows,
    Grouping,
    SingleWindow,
    Windowing,
)

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
