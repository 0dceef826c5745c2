"""Meter definitions: parsing with locations, round trip, matching."""

from __future__ import annotations

import json

import pytest

from tests.support.rows import usage_event as ev
from tollway.domain.errors import InvalidInput
from tollway.metering.meters import (
    DEFAULT_METER,
    Aggregation,
    MeterField,
    parse_meter,
)


def locs(data: object) -> list[tuple[str | int, ...]]:
    with pytest.raises(InvalidInput) as ei:
        parse_meter(data)  # type: ignore[arg-type]
    return [e.loc for e in ei.value.errors]


def test_default_meter_counts_2xx() -> None:
    assert DEFAULT_METER.key == "requests"
    assert DEFAULT_METER.aggregation is Aggregation.COUNT
    assert DEFAULT_METER.matches(ev(status=200))
    assert DEFAULT_METER.matches(ev(status=204))
    assert not DEFAULT_METER.matches(ev(status=404))
    assert not DEFAULT_METER.matches(ev(status=500))
    assert not DEFAULT_METER.matches(ev(status=302))
    assert parse_meter(DEFAULT_METER.to_dict()) == DEFAULT_METER


def test_parse_minimal_defaults() -> None:
    m = parse_meter({"key": "requests", "metric": {"aggregation": "count"}})
    assert m == DEFAULT_METER.__class__(
        key="requests", name="requests", aggregation=Aggregation.COUNT, field=None
    )
    assert m.filter.status_classes == frozenset({2})


def test_filters() -> None:
    m = parse_meter(
        {
            "key": "tokens",
            "name": "AI tokens",
            "metric": {"aggregation": "sum", "field": "usage_value"},
            "filter": {
                "api_ids": ["api_1"],
                "operation_ids": ["op_get"],
                "methods": ["get", "POST"],
                "status_classes": [2, 4],
                "application_ids": ["app_1"],
                "environments": ["production"],
            },
        }
    )
    assert m.filter.methods == frozenset({"GET", "POST"})
    assert m.matches(ev(usage_value=5))
    assert m.matches(ev(usage_value=5, status=429))
    assert not m.matches(ev(usage_value=None))  # a usage_value meter needs the value
    assert not m.matches(ev(usage_value=5, status=500))
    assert not m.matches(ev(usage_value=5, api_id="api_2"))
    assert not m.matches(ev(usage_value=5, operation_id=None))
    assert not m.matches(ev(usage_value=5, method="DELETE"))
    assert not m.matches(ev(usage_value=5, application_id="app_2"))
    assert not m.matches(ev(usage_value=5, environment="development"))
    d = m.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert parse_meter(d) == m


def test_all_statuses_with_null() -> None:
    m = parse_meter(
        {"key": "all", "metric": {"aggregation": "count"}, "filter": {"status_classes": None}}
    )
    assert m.filter.status_classes is None
    assert m.matches(ev(status=503))
    assert parse_meter(m.to_dict()) == m


@pytest.mark.parametrize(
    ("agg", "field", "ok"),
    [
        ("count", None, True),
        ("count", "latency_ms", False),
        ("sum", "request_bytes", True),
        ("sum", None, False),
        ("sum", "consumer_id", False),
        ("max", "latency_ms", True),
        ("last", "usage_value", True),
        ("distinct", "credential_id", True),
        ("distinct", "application_id", True),
        ("distinct", "consumer_id", True),
        ("distinct", "latency_ms", False),
        ("distinct", None, False),
    ],
)
def test_metric_rules(agg: str, field: str | None, ok: bool) -> None:
    metric = {"aggregation": agg} | ({"field": field} if field else {})
    data = {"key": "m", "metric": metric}
    if ok:
        m = parse_meter(data)
        assert m.aggregation.value == agg
        assert m.field == (MeterField(field) if field else None)
        assert parse_meter(m.to_dict()) == m
    else:
        assert locs(data) == [("meter", "metric", "field")]


def test_errors_have_locations() -> None:
    assert locs({"metric": {"aggregation": "count"}}) == [("meter", "key")]
    assert locs({"key": "bad key!", "metric": {"aggregation": "count"}}) == [("meter", "key")]
    assert locs({"key": "m"}) == [("meter", "metric")]
    assert locs({"key": "m", "metric": {"aggregation": "avg"}}) == [
        ("meter", "metric", "aggregation")
    ]
    assert locs({"key": "m", "metric": {"aggregation": "sum", "field": "nope"}}) == [
        ("meter", "metric", "field")
    ]
    assert locs({"key": "m", "metric": {"aggregation": "count"}, "filter": {"methods": []}}) == [
        ("meter", "filter", "methods")
    ]
    assert locs(
        {"key": "m", "metric": {"aggregation": "count"}, "filter": {"status_classes": [2, 7]}}
    ) == [("meter", "filter", "status_classes", 1)]
    assert locs(
        {"key": "m", "metric": {"aggregation": "count"}, "filter": {"api_ids": "api_1"}}
    ) == [("meter", "filter", "api_ids")]
    assert locs({"key": "m", "metric": {"aggregation": "count"}, "filter": {"apis": ["a"]}}) == [
        ("meter", "filter", "apis")
    ]
    assert locs({"key": "m", "metric": {"aggregation": "count"}, "extra": 1}) == [
        ("meter", "extra")
    ]
    assert locs("nope") == [("meter",)]
