"""The metering core (pure): the usage event, meter definitions, folding events into
mergeable aggregates, usage windows. Import from here; ``metering.spool`` (the
gateway's file spool) and ``metering.ledger`` (the ledger seam) are imported by name."""

from tollway.metering.aggregate import (
    Aggregate,
    AggregateKey,
    AggregateTable,
    BillingPeriods,
    FixedWindows,
    Grouping,
    SingleWindow,
    Windowing,
    fold,
    merge,
)
from tollway.metering.events import FIELDS, UsageEvent
from tollway.metering.meters import (
    DEFAULT_METER,
    Aggregation,
    MeterDefinition,
    MeterField,
    MeterFilter,
    parse_meter,
)
from tollway.metering.usage_windows import measure

__all__ = [
    "DEFAULT_METER",
    "FIELDS",
    "Aggregate",
    "AggregateKey",
    "AggregateTable",
    "Aggregation",
    "BillingPeriods",
    "FixedWindows",
    "Grouping",
    "MeterDefinition",
    "MeterField",
    "MeterFilter",
    "SingleWindow",
    "UsageEvent",
    "Windowing",
    "fold",
    "measure",
    "merge",
    "parse_meter",
]
