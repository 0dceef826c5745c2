"""Hypothesis properties of rating."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tollway.domain.money import minor_unit
from tollway.pricing.rating import rate
from tollway.pricing.spec import PricingSpec, parse_pricing

D = Decimal
CURRENCIES = st.sampled_from(["USD", "JPY", "KWD", "INR"])
unit_amounts = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False).map(str)
quantities = st.integers(min_value=0, max_value=10**7)


@st.composite
def tier_list(draw: st.DrawFn, currency: str) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 5))
    ups = sorted(draw(st.sets(st.integers(1, 10**6), min_size=n - 1, max_size=n - 1)))
    places = {"USD": 2, "JPY": 0, "KWD": 3, "INR": 2}[currency]
    flats = st.decimals(min_value=0, max_value=1000, places=places, allow_nan=False).map(str)
    return [
        {"up_to": up, "unit_amount": draw(unit_amounts), "flat_amount": draw(flats)}
        for up in [*ups, None]
    ]


@st.composite
def monotone_specs(draw: st.DrawFn) -> PricingSpec:
    """Pricings whose totals never decrease with quantity: everything but volume."""
    cur = draw(CURRENCIES)
    model = draw(st.sampled_from(["unit", "package", "graduated"]))
    usage: dict[str, Any] = {"meter": "requests", "model": model}
    if model == "graduated":
        usage["tiers"] = draw(tier_list(cur))
    else:
        usage["unit_amount"] = draw(unit_amounts)
    if model == "package":
        usage["package_size"] = draw(st.integers(1, 10_000))
    return parse_pricing(
        {"included_units": draw(st.integers(0, 1000)), "usage": usage, "flat_fee": "1"}, cur
    )


@settings(max_examples=300)
@given(monotone_specs(), quantities, quantities)
def test_totals_never_decrease_as_quantity_grows(spec: PricingSpec, q1: int, q2: int) -> None:
    lo, hi = sorted((q1, q2))
    assert rate(spec, spec.currency, lo).total <= rate(spec, spec.currency, hi).total


@settings(max_examples=200)
@given(CURRENCIES, unit_amounts, quantities, st.integers(0, 100))
def test_one_tier_graduated_equals_volume_equals_unit(
    cur: str, price: str, q: int, inc: int
) -> None:
    def total(usage: dict[str, Any]) -> Decimal:
        spec = parse_pricing({"included_units": inc, "usage": {"meter": "m", **usage}}, cur)
        return rate(spec, cur, q).total

    tier = [{"up_to": None, "unit_amount": price}]
    unit = total({"model": "unit", "unit_amount": price})
    assert total({"model": "graduated", "tiers": tier}) == unit
    assert total({"model": "volume", "tiers": tier}) == unit


@settings(max_examples=200)
@given(CURRENCIES, unit_amounts, quantities, st.integers(1, 5000))
def test_package_total_is_ceil_q_over_size_times_price(
    cur: str, price: str, q: int, size: int
) -> None:
    spec = parse_pricing(
        {"usage": {"meter": "m", "model": "package", "unit_amount": price, "package_size": size}},
        cur,
    )
    inv = rate(spec, cur, q)
    packages = math.ceil(q / size) if q < 2**50 else -(-q // size)
    assert inv.lines[0].quantity == packages
    exact = packages * D(price)
    assert abs(inv.total - exact) <= minor_unit(cur) / 2


@st.composite
def any_specs(draw: st.DrawFn) -> PricingSpec:
    cur = draw(CURRENCIES)
    model = draw(st.sampled_from(["unit", "package", "graduated", "volume"]))
    usage: dict[str, Any] = {"meter": "requests", "model": model}
    if model in ("graduated", "volume"):
        usage["tiers"] = draw(tier_list(cur))
    else:
        usage["unit_amount"] = draw(unit_amounts)
    if model == "package":
        usage["package_size"] = draw(st.integers(1, 10_000))
    places = {"USD": 2, "JPY": 0, "KWD": 3, "INR": 2}[cur]
    fee = draw(st.decimals(min_value=0, max_value=10**6, places=places, allow_nan=False))
    return parse_pricing(
        {"flat_fee": str(fee), "included_units": draw(st.integers(0, 1000)), "usage": usage}, cur
    )


@settings(max_examples=300)
@given(any_specs(), quantities)
def test_rounding_error_at_most_half_a_minor_unit_per_line(spec: PricingSpec, q: int) -> None:
    inv = rate(spec, spec.currency, q)
    half = minor_unit(spec.currency) / 2
    for ln in inv.lines:
        assert abs(ln.amount - ln.exact_amount) <= half
        assert ln.amount == ln.amount.quantize(minor_unit(spec.currency))
    exact = sum((ln.exact_amount for ln in inv.lines), D(0))
    assert abs(inv.total - exact) <= half * len(inv.lines)
    assert inv.total == sum((ln.amount for ln in inv.lines), D(0))


@settings(max_examples=200)
@given(any_specs(), quantities)
def test_graduated_exact_total_matches_definition(spec: PricingSpec, q: int) -> None:
    """Independent restatement of graduated/volume pricing on the exact amounts."""
    u = spec.usage
    assert u is not None
    assume(u.model.value in ("graduated", "volume"))
    over = max(0, q - spec.included_units)
    exact = D(0)
    lower = 0
    for t in u.tiers:
        upper = t.up_to if t.up_to is not None else over
        if u.model.value == "graduated":
            if over > lower:
                exact += (min(over, upper) - lower) * t.unit_amount + t.flat_amount
        elif lower < over <= upper:
            exact += over * t.unit_amount + t.flat_amount
        lower = t.up_to or 0
    got = sum((ln.exact_amount for ln in rate(spec, spec.currency, q).lines), D(0)) - spec.flat_fee
    assert got == exact
