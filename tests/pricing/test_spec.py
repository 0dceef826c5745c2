"""parse_pricing: validation with field locations, to_dict round trip, is_free."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tollway.domain.errors import InvalidInput
from tollway.pricing.spec import PriceModel, PricingSpec, parse_pricing


def locs(data: object, currency: str = "USD") -> list[tuple[str | int, ...]]:
    with pytest.raises(InvalidInput) as ei:
        parse_pricing(data, currency)  # type: ignore[arg-type]
    assert ei.value.errors, "InvalidInput must carry field errors"
    return [e.loc for e in ei.value.errors]


def tiers(*ts: dict[str, Any]) -> dict[str, Any]:
    return {"usage": {"meter": "requests", "model": "graduated", "tiers": list(ts)}}


def test_defaults() -> None:
    spec = parse_pricing({}, "usd")
    assert spec == PricingSpec(currency="USD")
    assert spec.is_free
    assert spec.to_dict() == {"flat_fee": "0.00", "included_units": 0}


def test_unsorted_tiers() -> None:
    assert locs(
        tiers(
            {"up_to": 10, "unit_amount": "1"},
            {"up_to": 5, "unit_amount": "1"},
            {"up_to": None, "unit_amount": "1"},
        )
    ) == [("pricing", "usage", "tiers", 1, "up_to")]


def test_equal_up_to_is_unsorted() -> None:
    assert locs(
        tiers(
            {"up_to": 10, "unit_amount": "1"},
            {"up_to": 10, "unit_amount": "1"},
            {"up_to": None, "unit_amount": "1"},
        )
    ) == [("pricing", "usage", "tiers", 1, "up_to")]


def test_last_tier_must_be_open_ended() -> None:
    assert locs(tiers({"up_to": 10, "unit_amount": "1"}, {"up_to": 20, "unit_amount": "1"})) == [
        ("pricing", "usage", "tiers", 1, "up_to")
    ]


def test_only_last_tier_open_ended() -> None:
    assert locs(tiers({"up_to": None, "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"}))[
        0
    ] == ("pricing", "usage", "tiers", 0, "up_to")


def test_missing_up_to() -> None:
    assert locs(tiers({"unit_amount": "1"})) == [("pricing", "usage", "tiers", 0, "up_to")]


def test_empty_tiers_and_missing_tiers() -> None:
    assert locs(tiers()) == [("pricing", "usage", "tiers")]
    assert locs({"usage": {"meter": "r", "model": "volume"}}) == [("pricing", "usage", "tiers")]


def test_negative_amounts() -> None:
    assert locs({"flat_fee": "-1"}) == [("pricing", "flat_fee")]
    assert locs({"usage": {"meter": "r", "model": "unit", "unit_amount": "-0.01"}}) == [
        ("pricing", "usage", "unit_amount")
    ]
    assert locs(tiers({"up_to": None, "unit_amount": "1", "flat_amount": "-2"})) == [
        ("pricing", "usage", "tiers", 0, "flat_amount")
    ]


def test_too_many_decimals() -> None:
    assert locs({"flat_fee": "9.999"}) == [("pricing", "flat_fee")]
    assert locs({"flat_fee": "1.5"}, "JPY") == [("pricing", "flat_fee")]
    parse_pricing({"flat_fee": "1.500"}, "KWD")  # 3 places allowed
    parse_pricing({"flat_fee": "1.50"}, "USD")  # trailing zero within the limit
    parse_pricing({"flat_fee": "2.000"}, "USD")  # trailing zeros do not count
    ok = parse_pricing(
        {"usage": {"meter": "r", "model": "unit", "unit_amount": "0.000000000001"}}, "USD"
    )
    assert ok.usage is not None and ok.usage.unit_amount == Decimal("1e-12")
    assert locs({"usage": {"meter": "r", "model": "unit", "unit_amount": "0.0000000000001"}}) == [
        ("pricing", "usage", "unit_amount")
    ]
    assert locs(tiers({"up_to": None, "unit_amount": "1", "flat_amount": "0.001"})) == [
        ("pricing", "usage", "tiers", 0, "flat_amount")
    ]


def test_unknown_currency() -> None:
    with pytest.raises(InvalidInput) as ei:
        parse_pricing({}, "XYZ")
    assert ei.value.errors[0].loc == ("currency",)


def test_unknown_model_and_missing_fields() -> None:
    assert locs({"usage": {"meter": "r", "model": "magic"}}) == [("pricing", "usage", "model")]
    assert locs({"usage": {"model": "unit", "unit_amount": "1"}}) == [("pricing", "usage", "meter")]
    assert locs({"usage": {"meter": "r", "unit_amount": "1"}}) == [("pricing", "usage", "model")]
    assert locs({"usage": {"meter": "r", "model": "unit"}}) == [("pricing", "usage", "unit_amount")]
    assert locs({"usage": {"meter": "r", "model": "package", "unit_amount": "1"}}) == [
        ("pricing", "usage", "package_size")
    ]
    assert locs(
        {"usage": {"meter": "r", "model": "package", "unit_amount": "1", "package_size": 0}}
    ) == [("pricing", "usage", "package_size")]


def test_wrong_types_and_unknown_fields() -> None:
    assert locs({"flat_fee": "abc"}) == [("pricing", "flat_fee")]
    assert locs({"flat_fee": True}) == [("pricing", "flat_fee")]
    assert locs({"flat_fee": "NaN"}) == [("pricing", "flat_fee")]
    assert locs(
        {"included_units": -1, "usage": {"meter": "r", "model": "unit", "unit_amount": "1"}}
    ) == [("pricing", "included_units")]
    assert locs(
        {"included_units": 1.5, "usage": {"meter": "r", "model": "unit", "unit_amount": "1"}}
    ) == [("pricing", "included_units")]
    assert locs({"flat_fe": "1"}) == [("pricing", "flat_fe")]
    assert locs({"usage": "unit"}) == [("pricing", "usage")]
    assert locs({"usage": {"meter": "r", "model": "unit", "unit_amount": "1", "tiers": []}}) == [
        ("pricing", "usage", "tiers")
    ]
    assert locs({"included_units": 5}) == [("pricing", "included_units")]
    assert locs(
        tiers({"up_to": "ten", "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"})
    ) == [("pricing", "usage", "tiers", 0, "up_to")]


def test_reports_all_problems_and_custom_loc() -> None:
    with pytest.raises(InvalidInput) as ei:
        parse_pricing(
            {"flat_fee": "-1", "usage": {"meter": "r", "model": "unit", "unit_amount": "x"}},
            "USD",
            loc=("body", "pricing"),
        )
    assert [e.loc for e in ei.value.errors] == [
        ("body", "pricing", "flat_fee"),
        ("body", "pricing", "usage", "unit_amount"),
    ]
    assert ei.value.detail.startswith("body.pricing.flat_fee:")


def test_json_float_inputs_are_read_by_their_shortest_repr() -> None:
    spec = parse_pricing(
        {"flat_fee": 9.99, "usage": {"meter": "r", "model": "unit", "unit_amount": 0.02}}, "USD"
    )
    assert spec.flat_fee == Decimal("9.99")
    assert spec.usage is not None and spec.usage.unit_amount == Decimal("0.02")


EXAMPLES: list[dict[str, Any]] = [
    {
        "flat_fee": "999.00",
        "included_units": 10000,
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"},
    },
    {"usage": {"meter": "tokens", "model": "package", "unit_amount": "10", "package_size": 1000}},
    {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.000012345678"}},
    tiers(
        {"up_to": 10, "unit_amount": "1.00", "flat_amount": "0"},
        {"up_to": 20, "unit_amount": "0.8", "flat_amount": "2.5"},
        {"up_to": None, "unit_amount": "0.50"},
    ),
    {
        "usage": {
            "meter": "r",
            "model": "volume",
            "tiers": [
                {"up_to": 5, "unit_amount": "2", "flat_amount": "10"},
                {"up_to": None, "unit_amount": "1.5"},
            ],
        }
    },
]


@pytest.mark.parametrize("data", EXAMPLES)
@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD", "INR"])
def test_round_trip(data: dict[str, Any], currency: str) -> None:
    try:
        spec = parse_pricing(data, currency)
    except InvalidInput:
        assert currency == "JPY"  # some examples have cents
        return
    out = spec.to_dict()
    assert json.loads(json.dumps(out)) == out
    again = parse_pricing(out, currency)
    assert again == spec
    assert again.to_dict() == out


def test_to_dict_formats() -> None:
    spec = parse_pricing(EXAMPLES[3], "USD")
    d = spec.to_dict()
    assert d["usage"]["tiers"][1] == {"up_to": 20, "unit_amount": "0.80", "flat_amount": "2.50"}
    assert d["usage"]["tiers"][2]["up_to"] is None
    assert spec.usage is not None and spec.usage.model is PriceModel.GRADUATED


def test_is_free() -> None:
    assert parse_pricing(
        {"usage": {"meter": "r", "model": "unit", "unit_amount": "0"}}, "USD"
    ).is_free
    assert parse_pricing(
        tiers({"up_to": None, "unit_amount": "0", "flat_amount": "0"}), "USD"
    ).is_free
    assert not parse_pricing(
        tiers(
            {"up_to": 3, "unit_amount": "0"},
            {"up_to": None, "unit_amount": "0", "flat_amount": "1"},
        ),
        "USD",
    ).is_free
    assert not parse_pricing({"flat_fee": "0.01"}, "USD").is_free
    assert not parse_pricing(EXAMPLES[0], "USD").is_free
