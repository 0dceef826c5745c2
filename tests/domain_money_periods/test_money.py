"""Money: minor units, the one rounding rule, minor-unit conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollway.domain.errors import InvalidInput
from tollway.domain.money import (
    CURRENCY_MINOR_UNITS,
    format_amount,
    from_minor,
    minor_unit,
    minor_units,
    parse_decimal,
    round_line,
    to_minor,
)

D = Decimal


@pytest.mark.parametrize(
    ("cur", "n"),
    [("USD", 2), ("usd", 2), ("EUR", 2), ("GBP", 2), ("INR", 2), ("JPY", 0), ("KRW", 0),
     ("KWD", 3), ("BHD", 3), ("OMR", 3), ("CLF", 4)],
)  # fmt: skip
def test_minor_units(cur: str, n: int) -> None:
    assert minor_units(cur) == n
    assert minor_unit(cur) == D(1).scaleb(-n)


def test_unknown_currency() -> None:
    with pytest.raises(InvalidInput) as ei:
        minor_units("ABC")
    assert ei.value.errors[0].loc == ("currency",)
    assert len(CURRENCY_MINOR_UNITS) > 150


@pytest.mark.parametrize(
    ("amount", "cur", "out"),
    [
        ("0.005", "USD", "0.01"),
        ("0.004999", "USD", "0.00"),
        ("-0.005", "USD", "-0.01"),
        ("24.68", "USD", "24.68"),
        ("12.5", "USD", "12.50"),
        ("0.5", "JPY", "1"),
        ("1.5", "JPY", "2"),
        ("2.5", "JPY", "3"),  # half-up, not banker's
        ("0.0005", "KWD", "0.001"),
        ("123456789012345678.995", "USD", "123456789012345679.00"),
    ],
)
def test_round_line_half_up(amount: str, cur: str, out: str) -> None:
    r = round_line(D(amount), cur)
    assert str(r) == out


def test_to_from_minor() -> None:
    assert to_minor(D("12.50"), "USD") == 1250
    assert to_minor(D("12.505"), "USD") == 1251
    assert to_minor(D(500), "JPY") == 500
    assert to_minor(D("1.234"), "KWD") == 1234
    assert from_minor(1250, "USD") == D("12.50") and str(from_minor(1250, "USD")) == "12.50"
    assert str(from_minor(5, "JPY")) == "5"
    assert str(from_minor(-1, "KWD")) == "-0.001"
    with pytest.raises(TypeError):
        from_minor(1.5, "USD")  # type: ignore[arg-type]


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["USD", "JPY", "KWD"]))
def test_minor_round_trip(n: int, cur: str) -> None:
    assert to_minor(from_minor(n, cur), cur) == n


@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=12, allow_nan=False),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_rounding_error_at_most_half_a_minor_unit(x: Decimal, cur: str) -> None:
    r = round_line(x, cur)
    assert abs(r - x) <= minor_unit(cur) / 2
    assert round_line(r, cur) == r


def test_parse_decimal() -> None:
    assert parse_decimal("0.02", ("x",), max_places=12) == D("0.02")
    assert parse_decimal(0.02, ("x",), max_places=12) == D("0.02")
    assert parse_decimal(3, ("x",), max_places=0) == 3
    assert parse_decimal("-1", ("x",), max_places=2, allow_negative=True) == -1
    assert str(parse_decimal("-0", ("x",), max_places=2)) == "0"
    bad: object
    for bad in ["1e3", "abc", "inf", "NaN", None, True, [], "-1", "0.001"]:
        with pytest.raises(InvalidInput) as ei:
            parse_decimal(bad, ("p", "x"), max_places=2)
        assert ei.value.errors[0].loc == ("p", "x")


def test_format_amount() -> None:
    assert format_amount(D("1234.5"), "USD") == "$1,234.50"
    assert format_amount(D("0.0001"), "USD") == "$0.0001"
    assert format_amount(D("-3"), "EUR") == "-€3.00"
    assert format_amount(D("999"), "INR") == "₹999.00"
    assert format_amount(D("1.25"), "KWD") == "KWD 1.250"
    assert format_amount(D("500"), "JPY") == "¥500"
