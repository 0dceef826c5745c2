"""Several usage prices per plan, one per meter: parsing both shapes, writing back the
canonical one, rating quantities by meter (one line group per meter)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tollway.domain.errors import InvalidInput
from tollway.domain.periods import Period
from tollway.pricing.rating import estimate_current_period, rate, rate_aggregates
from tollway.pricing.spec import (
    PriceModel,
    PricingSpec,
    SeveralUsagePrices,
    UsagePrice,
    parse_pricing,
)

D = Decimal
AI_PLAN: dict[str, Any] = {
    "flat_fee": "0",
    "usage": [
        {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
        {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000},
    ],
}


def locs(data: dict[str, Any], **kw: Any) -> list[tuple[str | int, ...]]:
    with pytest.raises(InvalidInput) as ei:
        parse_pricing(data, "USD", **kw)
    return [e.loc for e in ei.value.errors]


def test_the_one_meter_shape_still_reads_and_writes_back_unchanged() -> None:
    legacy = {
        "flat_fee": "10.00",
        "included_units": 100,
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"},
    }
    spec = parse_pricing(legacy, "usd")
    assert spec.usage == UsagePrice(
        meter="requests",
        model=spec.usage_prices[0].model,
        unit_amount=D("0.02"),
        included_units=100,
    )
    assert spec.included_units == 100 and spec.meter == "requests"
    assert spec.to_dict() == {**legacy, "flat_fee": "10.00"}
    assert parse_pricing(spec.to_dict(), "USD") == spec


def test_a_list_of_one_is_the_same_plan_as_the_object_shape() -> None:
    as_list = {"usage": [{"meter": "r", "model": "unit", "unit_amount": "1", "included_units": 5}]}
    as_object = {"included_units": 5, "usage": {"meter": "r", "model": "unit", "unit_amount": "1"}}
    assert parse_pricing(as_list, "USD") == parse_pricing(as_object, "USD")
    written = parse_pricing(as_list, "USD").to_dict()
    assert written["usage"] == {"meter": "r", "model": "unit", "unit_amount": "1.00"}
    assert written["included_units"] == 5


def test_several_meters_parse_and_round_trip() -> None:
    spec = parse_pricing(AI_PLAN, "USD", several_meters=True)
    assert spec.meters == ("requests", "tokens")
    assert spec.to_dict() == {
        "flat_fee": "0.00",
        "usage": [
            {
                "meter": "requests",
                "model": "unit",
                "unit_amount": "0.002",
                "included_units": 0,
            },
            {
                "meter": "tokens",
                "model": "package",
                "unit_amount": "0.01",
                "package_size": 1000,
                "included_units": 0,
            },
        ],
    }
    assert parse_pricing(spec.to_dict(), "USD", several_meters=True) == spec
    with pytest.raises(SeveralUsagePrices):
        _ = spec.usage


def test_several_meters_are_refused_where_the_caller_bills_one() -> None:
    assert locs(AI_PLAN) == [("pricing", "usage")]


def test_list_errors_name_the_item() -> None:
    bad = {
        "included_units": 3,
        "usage": [
            {"meter": "r", "model": "unit", "unit_amount": "1"},
            {"meter": "r", "model": "unit", "unit_amount": "2"},
            {"meter": "t", "model": "unit", "unit_amount": "-1", "included_units": -1},
        ],
    }
    assert sorted(map(str, locs(bad, several_meters=True))) == sorted(
        map(
            str,
            [
                ("pricing", "included_units"),
                ("pricing", "usage", 2, "included_units"),
                ("pricing", "usage", 2, "unit_amount"),
                ("pricing", "usage", 1, "meter"),
            ],
        )
    )
    assert locs({"usage": []}) == [("pricing", "usage")]
    assert locs(
        {
            "included_units": 2,
            "usage": {"meter": "r", "model": "unit", "unit_amount": "1", "included_units": 3},
        }
    ) == [("pricing", "included_units")]


def test_one_usage_price_per_meter() -> None:
    u = UsagePrice(meter="r", model=PriceModel.UNIT, unit_amount=D(1))
    with pytest.raises(ValueError, match="one usage price per meter"):
        PricingSpec(currency="USD", usage_prices=(u, u))


def test_rating_two_meters_gives_one_group_per_meter() -> None:
    """requests at $0.002 + tokens at $0.01 per 1,000: 12,345 requests and 2,500,001
    tokens (2,501 packages) -> $24.69 + $25.01 = $49.70."""
    spec = parse_pricing(AI_PLAN, "USD", several_meters=True)
    rated = rate(spec, "USD", {"requests": 12_345, "tokens": 2_500_001})
    assert rated.by_price() == {"requests": D("24.69"), "tokens": D("25.01")}
    assert rated.total == D("49.70")
    assert rate(spec, "USD", {"requests": 1}).by_price() == {
        "requests": D("0.00"),
        "tokens": D("0.00"),
    }
    with pytest.raises(ValueError, match="quantities by meter"):
        rate(spec, "USD", 5)
    assert rate_aggregates(spec, "USD", {"tokens": D(1000), "other": D(9)}).total == D("0.01")


def test_included_units_are_per_meter() -> None:
    spec = parse_pricing(
        {
            "usage": [
                {
                    "meter": "requests",
                    "model": "unit",
                    "unit_amount": "0.01",
                    "included_units": 1000,
                },
                {"meter": "tokens", "model": "unit", "unit_amount": "0.001"},
            ]
        },
        "USD",
        several_meters=True,
    )
    rated = rate(spec, "USD", {"requests": 1500, "tokens": 1500})
    assert rated.by_price() == {"requests": D("5.00"), "tokens": D("1.50")}


def test_estimate_projects_each_meter() -> None:
    spec = parse_pricing(AI_PLAN, "USD", several_meters=True)
    period = Period(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))
    est = estimate_current_period(
        spec,
        "USD",
        {"requests": 1000, "tokens": 10_000},
        period=period,
        as_of=datetime(2026, 3, 6, tzinfo=UTC),
        before_tax=True,
    )
    assert est.projected_by_meter == {"requests": D(2000), "tokens": D(20_000)}
    assert est.so_far.total == D("2.10") and est.projected is not None
    assert est.projected.total == D("4.20") and est.so_far.before_tax
    assert est.so_far.to_dict()["before_tax"] is True
