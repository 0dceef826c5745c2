"""Hypothesis properties of spend, discounts and plan changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.domain.money import minor_unit
from tollway.pricing.discounts import Coupon, CouponDuration, allocate, apply_coupon
from tollway.pricing.rating import rate
from tollway.pricing.spec import PricingSpec, parse_pricing
from tollway.pricing.spend import SpendRater

D = Decimal
CURRENCIES = st.sampled_from(["USD", "JPY", "KWD"])
PLACES = {"USD": 2, "JPY": 0, "KWD": 3}
unit_amounts = st.decimals(min_value=0, max_value=50, places=6, allow_nan=False).map(str)


@st.composite
def usage_price(draw: st.DrawFn, cur: str, meter: str) -> dict[str, Any]:
    model = draw(st.sampled_from(["unit", "package", "graduated", "volume"]))
    out: dict[str, Any] = {"meter": meter, "model": model}
    out["included_units"] = draw(st.integers(0, 500))
    if model in ("graduated", "volume"):
        ups = sorted(draw(st.sets(st.integers(1, 10_000), max_size=3)))
        flats = st.decimals(min_value=0, max_value=100, places=PLACES[cur], allow_nan=False)
        out["tiers"] = [
            {"up_to": up, "unit_amount": draw(unit_amounts), "flat_amount": str(draw(flats))}
            for up in [*ups, None]
        ]
    else:
        out["unit_amount"] = draw(unit_amounts)
    if model == "package":
        out["package_size"] = draw(st.integers(1, 1000))
    return out


@st.composite
def specs(draw: st.DrawFn) -> PricingSpec:
    cur = draw(CURRENCIES)
    meters = draw(st.lists(st.sampled_from(["requests", "tokens", "bytes"]), min_size=1,
                           max_size=3, unique=True))  # fmt: skip
    flat = draw(st.decimals(min_value=0, max_value=500, places=PLACES[cur], allow_nan=False))
    usage = [draw(usage_price(cur, m)) for m in meters]
    return parse_pricing({"flat_fee": str(flat), "usage": usage}, cur, several_meters=True)


usages = st.dictionaries(
    st.sampled_from(["requests", "tokens", "bytes"]), st.integers(0, 50_000), max_size=3
)


@settings(max_examples=300)
@given(specs(), usages, usages)
def test_spend_equals_the_invoice_usage_lines(
    spec: PricingSpec, usage: dict[str, int], call: dict[str, int]
) -> None:
    rater = SpendRater(spec)
    cost = rater.call_cost(usage, call)
    after = {m: usage.get(m, 0) + call.get(m, 0) for m in {*usage, *call}}
    assert cost.before == rate(spec, spec.currency, usage).usage_total
    assert cost.after == rate(spec, spec.currency, after).usage_total
    assert cost.before + cost.marginal == cost.after


@settings(max_examples=300)
@given(specs(), usages, st.integers(1, 100_000))
def test_amount_off_adds_up_and_never_exceeds_a_line(
    spec: PricingSpec, usage: dict[str, int], off_minor: int
) -> None:
    rated = rate(spec, spec.currency, usage)
    off = D(off_minor) * minor_unit(spec.currency)
    result = apply_coupon(
        rated, Coupon(CouponDuration.ONCE, amount_off=off, currency=spec.currency)
    )
    positive = {k: a for k, a in rated.by_price().items() if a > 0}
    assert result.discount == min(off, sum(positive.values(), D(0)))
    assert all(D(0) <= result.line_discounts[k] <= a for k, a in positive.items())
    assert result.total >= 0


@settings(max_examples=300)
@given(specs(), usages, st.decimals(min_value="0.01", max_value=100, places=2))
def test_percent_off_is_per_line_and_bounded(
    spec: PricingSpec, usage: dict[str, int], pct: Decimal
) -> None:
    rated = rate(spec, spec.currency, usage)
    result = apply_coupon(rated, Coupon(CouponDuration.FOREVER, percent_off=pct))
    half = minor_unit(spec.currency) / 2
    for key, amount in rated.by_price().items():
        if amount > 0:
            assert abs(result.line_discounts[key] - amount * pct / 100) <= half
    assert D(0) <= result.total <= result.subtotal


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=3), st.integers(0, 10**7).map(lambda c: D(c) / 100), min_size=1
    ),  # fmt: skip
    st.integers(0, 10**8).map(lambda c: D(c) / 100),
)
def test_allocate_is_exact(weights: dict[str, Decimal], amount: Decimal) -> None:
    shares = allocate(amount, weights, "USD")
    assert sum(shares.values(), D(0)) == min(amount, sum(weights.values(), D(0)))
    assert all(D(0) <= shares[k] <= w for k, w in weights.items())
