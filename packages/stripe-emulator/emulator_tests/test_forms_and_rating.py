"""Form decoding and Stripe's documented pricing examples (pure functions)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stripe_emulator import rating
from stripe_emulator.forms import decode
from stripe_emulator.params import decimal_str
from stripe_emulator.periods import add_interval


def test_nested_keys_lists_and_expand() -> None:
    body = (
        "line_items[0][price]=price_1&line_items[1][price]=price_2&line_items[1][quantity]=3"
        "&expand[]=subscription&expand[]=customer&metadata[plan]=pro&recurring[interval]=month"
        "&tiers[0][up_to]=5&tiers[1][up_to]=inf&metadata[empty]="
    )
    assert decode(body) == {
        "line_items": [{"price": "price_1"}, {"price": "price_2", "quantity": "3"}],
        "expand": ["subscription", "customer"],
        "metadata": {"plan": "pro", "empty": ""},
        "recurring": {"interval": "month"},
        "tiers": [{"up_to": "5"}, {"up_to": "inf"}],
    }


def test_list_order_follows_indices_not_arrival() -> None:
    assert decode("a[1]=y&a[0]=x&a[10]=z") == {"a": ["x", "y", "z"]}


TYPOGRAPHIC = [
    {"up_to": 5, "unit_amount_decimal": "700"},
    {"up_to": 10, "unit_amount_decimal": "650"},
    {"up_to": None, "unit_amount_decimal": "600"},
]


@pytest.mark.parametrize(
    ("quantity", "cents"), [(1, 700), (5, 3500), (6, 3900), (20, 12000), (25, 15000)]
)
def test_volume_tiers_match_stripe_docs(quantity: int, cents: int) -> None:
    price = {"billing_scheme": "tiered", "tiers_mode": "volume", "tiers": TYPOGRAPHIC}
    assert rating.amount(price, Decimal(quantity)) == cents


@pytest.mark.parametrize(
    ("quantity", "cents"), [(1, 700), (5, 3500), (6, 4150), (20, 12750), (25, 15750)]
)
def test_graduated_tiers_match_stripe_docs(quantity: int, cents: int) -> None:
    price = {"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": TYPOGRAPHIC}
    assert rating.amount(price, Decimal(quantity)) == cents


def test_flat_amounts_per_tier() -> None:
    tiers = [
        {"up_to": 1000, "unit_amount_decimal": "0", "flat_amount": 20000},
        {"up_to": None, "unit_amount_decimal": "4", "flat_amount": 500},
    ]
    graduated = {"billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": tiers}
    volume = {"billing_scheme": "tiered", "tiers_mode": "volume", "tiers": tiers}
    assert rating.amount(graduated, Decimal(0)) == 20000  # base fee even without usage
    assert rating.amount(graduated, Decimal(1000)) == 20000
    assert rating.amount(graduated, Decimal(1500)) == 20000 + 500 + 500 * 4
    assert rating.amount(volume, Decimal(1500)) == 1500 * 4 + 500
    assert rating.amount(volume, Decimal(999)) == 20000


@pytest.mark.parametrize(
    ("quantity", "round_", "cents"),
    [(8, "up", 5000), (8, "down", 2500), (10, "up", 5000), (0, "up", 0), (11, "down", 5000)],
)
def test_package_pricing_with_transform_quantity(quantity: int, round_: str, cents: int) -> None:
    # Stripe's package example: 25.00 per package of 5 units
    price = {
        "billing_scheme": "per_unit",
        "unit_amount_decimal": "2500",
        "transform_quantity": {"divide_by": 5, "round": round_},
    }
    assert rating.amount(price, Decimal(quantity)) == cents


def test_decimal_unit_amounts_round_the_line_half_up() -> None:
    price = {"billing_scheme": "per_unit", "unit_amount_decimal": "0.05"}
    assert rating.amount(price, Decimal(1234)) == 62  # 61.70 -> 62
    assert rating.amount(price, Decimal(10)) == 1  # 0.5 -> 1 (half up)
    assert rating.exact_amount(price, Decimal(3)) == Decimal("0.15")


def test_decimal_strings_and_month_ends() -> None:
    assert decimal_str(Decimal("0.500")) == "0.5"
    assert decimal_str(Decimal("2E+3")) == "2000"
    jan31 = 1706659200  # 2024-01-31T00:00:00Z
    assert add_interval(jan31, "month", 1, 1) == 1709164800  # 2024-02-29
    assert add_interval(jan31, "month", 1, 2) == 1711843200  # 2024-03-31
    assert add_interval(jan31, "year", 1, 1) == 1738281600  # 2025-01-31
