"""Meter definitions: which usage events count (a filter) and what they measure (a metric).

JSON shape (``parse_meter`` reads it, ``MeterDefinition.to_dict`` writes it back)::

    {
      "key": "requests",                 # the key pricings refer to ("usage.meter")
      "name": "Requests",                # optional, defaults to the key
      "metric": {
        "aggregation": "count" | "sum" | "max" | "last" | "distinct",
        "field": "request_bytes" | "response_bytes" | "latency_ms" | "usage_value"
               | "consumer_id" | "application_id" | "credential_id"
      },
      "filter": {                        # every list optional: absent or null = match all
        "api_ids": [...], "operation_ids": [...], "methods": ["GET", ...],
        "status_classes": [2],           # absent = [2] (only 2xx is billable); null = all
        "application_ids": [...], "environments": ["production", ...]
      }
    }

Metric rules: ``count`` takes no field; ``sum``/``max``/``last`` take a numeric field
(``request_bytes``, ``response_bytes``, ``latency_ms``, ``usage_value``); ``distinct``
takes an identity field (``consumer_id``, ``application_id``, ``credential_id``) and is
exact. Events whose ``usage_value`` is missing are skipped by a ``usage_value`` metric.
An empty filter list is refused (it would match nothing; omit the field to match all).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tollway.domain.errors import FieldError, InvalidInput
from tollway.metering.events import UsageEvent

__all__ = [
    "DEFAULT_METER",
    "METER_KEY_RE",
    "Aggregation",
    "MeterDefinition",
    "MeterField",
    "MeterFilter",
    "parse_meter",
]

Loc = tuple[str | int, ...]

#: Meter keys: letters, digits, ``_ . -``; start with a letter or digit; <= 100 chars.
METER_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    LAST = "last"
    DISTINCT = "distinct"


class MeterField(StrEnum):
    REQUEST_BYTES = "request_bytes"
    RESPONSE_BYTES = "response_bytes"
    LATENCY_MS = "latency_ms"
    USAGE_VALUE = "usage_value"
    CONSUMER_ID = "consumer_id"
    APPLICATION_ID = "application_id"
    CREDENTIAL_ID = "credential_id"


_NUMERIC = frozenset(
    {
        MeterField.REQUEST_BYTES,
        MeterField.RESPONSE_BYTES,
        MeterField.LATENCY_MS,
        MeterField.USAGE_VALUE,
    }
)
_IDENTITY = frozenset({MeterField.CONSUMER_ID, MeterField.APPLICATION_ID, MeterField.CREDENTIAL_ID})

_FILTER_KEYS = (
    "api_ids",
    "operation_ids",
    "methods",
    "status_classes",
    "application_ids",
    "environments",
)


@dataclass(frozen=True, slots=True)
class MeterFilter:
    """Which events a meter counts. ``None`` = any value matches."""

    api_ids: frozenset[str] | None = None
    operation_ids: frozenset[str] | None = None
    methods: frozenset[str] | None = None
    status_classes: frozenset[int] | None = frozenset({2})
    application_ids: frozenset[str] | None = None
    environments: frozenset[str] | None = None

    @property
    def statuses(self) -> frozenset[int] | None:
        """The HTTP status codes the status classes cover (for fast membership tests)."""
        if self.status_classes is None:
            return None
        return frozenset(s for c in self.status_classes for s in range(c * 100, c * 100 + 100))

    def matches(self, e: UsageEvent) -> bool:
        return (
            (self.status_classes is None or e.status // 100 in self.status_classes)
            and (self.api_ids is None or e.api_id in self.api_ids)
            and (self.operation_ids is None or e.operation_id in self.operation_ids)
            and (self.methods is None or e.method in self.methods)
            and (self.application_ids is None or e.application_id in self.application_ids)
            and (self.environments is None or e.environment in self.environments)
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in _FILTER_KEYS:
            value = getattr(self, key)
            out[key] = None if value is None else sorted(value)
        return out


@dataclass(frozen=True, slots=True)
class MeterDefinition:
    key: str
    name: str
    aggregation: Aggregation
    field: MeterField | None  # None for count
    filter: MeterFilter = MeterFilter()

    def matches(self, event: UsageEvent) -> bool:
        """Whether the event counts for this meter (the filter, plus: a ``usage_value``
        metric needs the event to carry a usage value)."""
        if not self.filter.matches(event):
            return False
        return self.field is not MeterField.USAGE_VALUE or event.usage_value is not None

    def to_dict(self) -> dict[str, Any]:
        metric: dict[str, Any] = {"aggregation": self.aggregation.value}
        if self.field is not None:
            metric["field"] = self.field.value
        return {
            "key": self.key,
            "name": self.name,
            "metric": metric,
            "filter": self.filter.to_dict(),
        }


#: The meter every plan gets unless told otherwise: the number of 2xx calls.
DEFAULT_METER = MeterDefinition(
    key="requests", name="Requests", aggregation=Aggregation.COUNT, field=None
)


def _str_list(
    raw: object, loc: Loc, errs: list[FieldError], *, upper: bool = False
) -> frozenset[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        errs.append(FieldError(loc, "must be a list of strings (or null for all)"))
        return None
    if not raw:
        errs.append(FieldError(loc, "must not be empty; leave it out to match all"))
        return None
    out: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not item:
            errs.append(FieldError((*loc, i), "must be a non-empty string"))
            continue
        out.add(item.upper() if upper else item)
    return frozenset(out)


def _status_classes(raw: object, loc: Loc, errs: list[FieldError]) -> frozenset[int] | None:
    if raw is None:
        return None
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        errs.append(FieldError(loc, "must be a list of status classes like [2] (or null for all)"))
        return None
    if not raw:
        errs.append(FieldError(loc, "must not be empty; use null to match every status"))
        return None
    out: set[int] = set()
    for i, item in enumerate(raw):
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 5:
            errs.append(FieldError((*loc, i), "must be a status class from 1 to 5 (2 = 2xx)"))
            continue
        out.add(item)
    return frozenset(out)


def parse_meter(data: Mapping[str, object], loc: Loc = ("meter",)) -> MeterDefinition:
    """Validate and parse a meter definition; ``InvalidInput`` with every problem found."""
    if not isinstance(data, Mapping):
        raise InvalidInput.at(loc, "must be an object")
    errs: list[FieldError] = []
    for k in data:
        if k not in ("key", "name", "metric", "filter"):
            errs.append(FieldError((*loc, str(k)), "unknown field"))

    key = data.get("key")
    if key is None:
        errs.append(FieldError((*loc, "key"), "field required"))
    elif not isinstance(key, str) or not METER_KEY_RE.match(key):
        errs.append(FieldError((*loc, "key"), "must be 1-100 letters, digits, '_', '.', '-'"))
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        errs.append(FieldError((*loc, "name"), "must be a non-empty string (<= 200 chars)"))
        name = None

    aggregation: Aggregation | None = None
    mfield: MeterField | None = None
    metric = data.get("metric")
    mloc = (*loc, "metric")
    if metric is None:
        errs.append(FieldError(mloc, "field required"))
    elif not isinstance(metric, Mapping):
        errs.append(FieldError(mloc, "must be an object"))
    else:
        for k in metric:
            if k not in ("aggregation", "field"):
                errs.append(FieldError((*mloc, str(k)), "unknown field"))
        raw_agg = metric.get("aggregation")
        try:
            aggregation = Aggregation(str(raw_agg)) if isinstance(raw_agg, str) else None
        except ValueError:
            aggregation = None
        if aggregation is None:
            allowed = ", ".join(a.value for a in Aggregation)
            msg = "field required" if raw_agg is None else f"unknown aggregation {raw_agg!r}"
            errs.append(FieldError((*mloc, "aggregation"), f"{msg}; one of: {allowed}"))
        raw_field = metric.get("field")
        if raw_field is not None:
            try:
                mfield = MeterField(raw_field)
            except ValueError:
                allowed = ", ".join(f.value for f in MeterField)
                errs.append(
                    FieldError((*mloc, "field"), f"unknown field {raw_field!r}; one of: {allowed}")
                )
        if aggregation is not None:
            floc = (*mloc, "field")
            if aggregation is Aggregation.COUNT:
                if raw_field is not None:
                    errs.append(FieldError(floc, "a count meter takes no field"))
            elif aggregation is Aggregation.DISTINCT:
                if raw_field is None:
                    errs.append(FieldError(floc, "field required for distinct"))
                elif mfield is not None and mfield not in _IDENTITY:
                    errs.append(
                        FieldError(
                            floc, "distinct counts consumer_id, application_id or credential_id"
                        )
                    )
            elif raw_field is None:
                errs.append(FieldError(floc, f"field required for {aggregation.value}"))
            elif mfield is not None and mfield not in _NUMERIC:
                errs.append(FieldError(floc, f"{aggregation.value} needs a numeric field"))

    flt = MeterFilter()
    raw_filter = data.get("filter")
    floc = (*loc, "filter")
    if raw_filter is not None:
        if not isinstance(raw_filter, Mapping):
            errs.append(FieldError(floc, "must be an object"))
        else:
            for k in raw_filter:
                if k not in _FILTER_KEYS:
                    errs.append(FieldError((*floc, str(k)), "unknown field"))
            flt = MeterFilter(
                api_ids=_str_list(raw_filter.get("api_ids"), (*floc, "api_ids"), errs),
                operation_ids=_str_list(
                    raw_filter.get("operation_ids"), (*floc, "operation_ids"), errs
                ),
                methods=_str_list(raw_filter.get("methods"), (*floc, "methods"), errs, upper=True),
                status_classes=(
                    _status_classes(
                        raw_filter.get("status_classes"), (*floc, "status_classes"), errs
                    )
                    if "status_classes" in raw_filter
                    else frozenset({2})
                ),
                application_ids=_str_list(
                    raw_filter.get("application_ids"), (*floc, "application_ids"), errs
                ),
                environments=_str_list(
                    raw_filter.get("environments"), (*floc, "environments"), errs
                ),
            )

    if errs:
        first = errs[0]
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise InvalidInput(f"{first.pointer}: {first.message}{more}", errs)
    assert isinstance(key, str) and aggregation is not None
    return MeterDefinition(
        key=key,
        name=name.strip() if isinstance(name, str) else key,
        aggregation=aggregation,
        field=None if aggregation is Aggregation.COUNT else mfield,
        filter=flt,
    )
