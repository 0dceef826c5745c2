"""``affordable_units``: a budget as a number of calls, checked against counting one by
one for every price model (the first count whose charges exceed the limit, minus one)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.pricing import SpendRater, affordable_units, parse_pricing

PRICINGS: dict[str, dict[str, Any]] = {
    "unit": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}},
    "unit-included": {
        "usage": {
            "meter": "requests",
            "model": "unit",
            "unit_amount": "0.03",
            "included_units": 7,
        }
    },
    "package": {
        "usage": {"meter": "requests", "model": "package", "unit_amount": "0.25", "package_size": 4}
    },
    "graduated": {
        "usage": {
            "meter": "requests",
            "model": "graduated",
            "tiers": [
                {"up_to": 5, "unit_amount": "0.10", "flat_amount": "0.50"},
                {"up_to": 20, "unit_amount": "0.04"},
                {"up_to": None, "unit_amount": "0.015"},
            ],
        }
    },
    "volume": {
        "usage": {
            "meter": "requests",
            "model": "volume",
            "tiers": [
                {"up_to": 10, "unit_amount": "0.20"},
                {"up_to": 30, "unit_amount": "0.05"},
                {"up_to": None, "unit_amount": "0.01"},
            ],
        }
    },
    "sub-cent": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.004"}},
}


def _counted(rater: SpendRater, limit: Decimal) -> int:
    n = 0
    while rater.usage_cost({"requests": n + 1}) <= limit:
        n += 1
        assert n < 5000
    return n if rater.usage_cost({"requests": 0}) <= limit else 0


@pytest.mark.parametrize("name", sorted(PRICINGS))
@settings(max_examples=40, deadline=None)
@given(cents=st.integers(min_value=0, max_value=1500))
def test_affordable_units_is_the_first_crossing(name: str, cents: int) -> None:
    rater = SpendRater(parse_pricing(PRICINGS[name], "USD"))
    limit = Decimal(cents).scaleb(-2)
    assert affordable_units(rater, "requests", limit) == _counted(rater, limit)


def test_the_issue_example_and_edges() -> None:
    unit = SpendRater(parse_pricing(PRICINGS["unit"], "USD"))
    assert affordable_units(unit, "requests", Decimal("0.10")) == 5
    assert affordable_units(unit, "requests", Decimal("0.11")) == 5
    assert affordable_units(unit, "other-meter", Decimal("5")) == 0
    graduated = SpendRater(parse_pricing(PRICINGS["graduated"], "USD"))
    assert affordable_units(graduated, "requests", Decimal("0.49")) == 0  # flat 0.50 due
    # a volume price is cheaper per call past 10 calls, but the 11th call's charges
    # (0.55) are below the 10th's (2.00): with 1.00 the cap stops at the first crossing
    volume = SpendRater(parse_pricing(PRICINGS["volume"], "USD"))
    assert affordable_units(volume, "requests", Decimal("1.00")) == 5
    free = SpendRater(parse_pricing({}, "USD"))
    assert affordable_units(free, "requests", Decimal("1")) == 0
