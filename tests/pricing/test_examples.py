"""The exact examples the issue requires, plus a table test per price model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tollway.pricing.rating import LineKind, rate
from tollway.pricing.spec import PricingSpec, parse_pricing

D = Decimal


def usd(usage: dict[str, Any], **extra: Any) -> PricingSpec:
    return parse_pricing({"usage": {"meter": "requests", **usage}, **extra}, "USD")


def test_graduated_15_units_two_tiers_is_12_50() -> None:
    spec = usd(
        {
            "model": "graduated",
            "tiers": [
                {"up_to": 10, "unit_amount": "1.00"},
                {"up_to": None, "unit_amount": "0.50"},
            ],
        }
    )
    inv = rate(spec, "USD", D(15))
    assert inv.total == D("12.50")
    assert [(ln.tier, ln.quantity, ln.amount) for ln in inv.lines] == [
        (1, D(10), D("10.00")),
        (2, D(5), D("2.50")),
    ]
    assert "tier 1" in inv.lines[0].description and "$1.00" in inv.lines[0].description


def test_graduated_25_units_three_tiers_is_20_50() -> None:
    spec = usd(
        {
            "model": "graduated",
            "tiers": [
                {"up_to": 10, "unit_amount": "1.00"},
                {"up_to": 20, "unit_amount": "0.80"},
                {"up_to": None, "unit_amount": "0.50"},
            ],
        }
    )
    inv = rate(spec, "USD", D(25))
    assert inv.total == D("20.50")
    assert [ln.amount for ln in inv.lines] == [D("10.00"), D("8.00"), D("2.50")]
    assert [ln.quantity for ln in inv.lines] == [D(10), D(10), D(5)]


def test_volume_5_units_with_flat_amount() -> None:
    spec = usd(
        {
            "model": "volume",
            "tiers": [
                {"up_to": 5, "unit_amount": "2.00", "flat_amount": "10.00"},
                {"up_to": None, "unit_amount": "1.50", "flat_amount": "5.00"},
            ],
        }
    )
    inv = rate(spec, "USD", D(5))
    assert inv.total == D("20.00")  # 5 x 2.00 + 10.00
    assert [(ln.kind, ln.amount) for ln in inv.lines] == [
        (LineKind.USAGE, D("10.00")),
        (LineKind.TIER_FLAT, D("10.00")),
    ]
    # one more unit moves every unit to tier 2
    assert rate(spec, "USD", D(6)).total == D("14.00")  # 6 x 1.50 + 5.00


def test_unit_1234_requests_at_2_cents_is_24_68() -> None:
    spec = usd({"model": "unit", "unit_amount": "0.02"})
    inv = rate(spec, "USD", D(1234))
    assert inv.total == D("24.68")
    assert inv.lines[0].description == "requests: 1,234 x $0.02"


def test_package_10_dollars_per_1000_with_1001_calls_is_20() -> None:
    spec = usd({"model": "package", "unit_amount": "10.00", "package_size": 1000})
    inv = rate(spec, "USD", D(1001))
    assert inv.total == D("20.00")
    assert inv.lines[0].quantity == D(2)


def test_hybrid_inr_999_includes_10000_then_one_paisa() -> None:
    spec = parse_pricing(
        {
            "flat_fee": "999.00",
            "included_units": 10000,
            "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"},
        },
        "INR",
    )
    assert rate(spec, "INR", D(0)).total == D("999.00")
    assert rate(spec, "INR", D(10000)).total == D("999.00")
    inv = rate(spec, "INR", D(12345))
    assert inv.total == D("1022.45")
    kinds = [(ln.kind, ln.quantity, ln.amount) for ln in inv.lines]
    assert kinds == [
        (LineKind.FLAT_FEE, D(1), D("999.00")),
        (LineKind.INCLUDED, D(10000), D("0.00")),
        (LineKind.USAGE, D(2345), D("23.45")),
    ]
    assert "₹999.00" in inv.lines[0].description


# Price specs the table rates at more than one quantity.
PACKAGE_10_PER_1000 = {
    "usage": {"meter": "r", "model": "package", "unit_amount": "10", "package_size": 1000}
}
FREE_100_THEN_FLAT_5 = {
    "usage": {
        "meter": "r",
        "model": "graduated",
        "tiers": [
            {"up_to": 100, "unit_amount": "0", "flat_amount": "0"},
            {"up_to": None, "unit_amount": "0.10", "flat_amount": "5"},
        ],
    }
}
VOLUME_1_THEN_HALF = {
    "usage": {
        "meter": "r",
        "model": "volume",
        "tiers": [{"up_to": 10, "unit_amount": "1"}, {"up_to": None, "unit_amount": "0.5"}],
    }
}


@pytest.mark.parametrize(
    ("pricing", "currency", "qty", "total"),
    [
        ({}, "USD", 100, "0.00"),
        ({"flat_fee": "29"}, "USD", 0, "29.00"),
        ({"flat_fee": "500"}, "JPY", 3, "500"),
        ({"usage": {"meter": "r", "model": "unit", "unit_amount": "0.0001"}}, "USD", 12345, "1.23"),
        # half-up at the line: 0.125 -> 0.13
        ({"usage": {"meter": "r", "model": "unit", "unit_amount": "0.0125"}}, "USD", 10, "0.13"),
        ({"usage": {"meter": "r", "model": "unit", "unit_amount": "0.5"}}, "JPY", 3, "2"),
        ({"usage": {"meter": "r", "model": "unit", "unit_amount": "0.0005"}}, "KWD", 3, "0.002"),
        (PACKAGE_10_PER_1000, "USD", 0, "0.00"),
        (PACKAGE_10_PER_1000, "USD", 1000, "10.00"),
        (
            {
                "included_units": 5,
                "usage": {"meter": "r", "model": "package", "unit_amount": "1", "package_size": 10},
            },
            "USD",
            16,
            "2.00",
        ),
        (FREE_100_THEN_FLAT_5, "USD", 100, "0.00"),
        (FREE_100_THEN_FLAT_5, "USD", 101, "5.10"),
        (
            {
                "usage": {
                    "meter": "r",
                    "model": "graduated",
                    "tiers": [
                        {"up_to": 1, "flat_amount": "3"},
                        {"up_to": None, "unit_amount": "1"},
                    ],
                }
            },
            "USD",
            0,
            "0.00",
        ),
        (VOLUME_1_THEN_HALF, "USD", 10, "10.00"),
        (VOLUME_1_THEN_HALF, "USD", 11, "5.50"),
        (
            {
                "flat_fee": "10",
                "included_units": 100,
                "usage": {
                    "meter": "r",
                    "model": "graduated",
                    "tiers": [
                        {"up_to": 10, "unit_amount": "1"},
                        {"up_to": None, "unit_amount": "0.1"},
                    ],
                },
            },
            "USD",
            120,
            "21.00",
        ),
    ],
)
def test_models_table(pricing: dict[str, Any], currency: str, qty: int, total: str) -> None:
    spec = parse_pricing(pricing, currency)
    inv = rate(spec, currency, D(qty))
    assert inv.total == D(total)
    assert str(inv.total) == total
    assert inv.total == sum((ln.amount for ln in inv.lines), D(0))
