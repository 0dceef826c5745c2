"""Proration, plan changes, the current-period estimate, quotas, serialisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tollway.domain.periods import Period
from tollway.pricing.rating import (
    LineKind,
    estimate_current_period,
    plan_change_lines,
    quota_remaining,
    rate,
)
from tollway.pricing.spec import parse_pricing

D = Decimal
FEB = Period(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))  # 28 days
HYBRID = parse_pricing(
    {
        "flat_fee": "28.00",
        "included_units": 100,
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"},
    },
    "USD",
)


def d(day: int, month: int = 2) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


def test_prorated_flat_fee_for_mid_period_start() -> None:
    inv = rate(HYBRID, "USD", 0, period=FEB, proration=(d(15), FEB.end))
    assert inv.lines[0].kind is LineKind.FLAT_FEE
    assert inv.lines[0].amount == D("14.00")
    assert "prorated" in inv.lines[0].description
    assert inv.total == D("14.00")


def test_prorated_cancellation_rounds_once_half_up() -> None:
    spec = parse_pricing({"flat_fee": "10.00"}, "USD")
    three_days = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC))
    inv = rate(
        spec,
        "USD",
        0,
        period=three_days,
        proration=(three_days.start, datetime(2026, 1, 2, tzinfo=UTC)),
    )
    assert inv.total == D("3.33")
    inv = rate(
        spec,
        "USD",
        0,
        period=three_days,
        proration=(three_days.start, datetime(2026, 1, 3, tzinfo=UTC)),
    )
    assert inv.total == D("6.67")


def test_full_period_proration_is_the_plain_fee() -> None:
    inv = rate(HYBRID, "USD", 0, period=FEB, proration=FEB)
    assert inv.lines[0].description == "Flat fee ($28.00 per period)"


def test_proration_needs_period() -> None:
    with pytest.raises(ValueError):
        rate(HYBRID, "USD", 0, proration=FEB)


def test_currency_mismatch_and_negative_quantity() -> None:
    with pytest.raises(ValueError):
        rate(HYBRID, "EUR", 0)
    with pytest.raises(ValueError):
        rate(HYBRID, "usd", D(-1))
    assert rate(HYBRID, "usd", 0).currency == "USD"


def test_plan_change_credit_and_charge() -> None:
    pro = parse_pricing({"flat_fee": "56.00"}, "USD")
    lines = plan_change_lines(HYBRID, pro, FEB, d(15))
    assert [ln.amount for ln in lines] == [D("-14.00"), D("28.00")]
    assert all(ln.kind is LineKind.PRORATION for ln in lines)
    assert plan_change_lines(HYBRID, pro, FEB, FEB.end) == []


def test_estimate_current_period() -> None:
    est = estimate_current_period(HYBRID, "USD", 200, period=FEB, as_of=d(8))  # 7 of 28 days
    assert est.so_far.total == D("29.00")  # 28 + (200 - 100) x 0.01
    assert est.projected_usage == 800
    assert est.projected is not None and est.projected.total == D("35.00")
    assert est.total == D("29.00")
    # before the period really starts, nothing to project from
    est0 = estimate_current_period(HYBRID, "USD", 0, period=FEB, as_of=d(1))
    assert est0.projected_usage == 0 and est0.projected == est0.so_far
    # a subscription that started mid-period: prorated fee, projection from its start
    est2 = estimate_current_period(HYBRID, "USD", 100, period=FEB, as_of=d(22), started_at=d(15))
    assert est2.so_far.lines[0].amount == D("14.00")
    assert est2.projected_usage == 200


def test_quota_remaining() -> None:
    assert quota_remaining(None, D(5)) is None
    assert quota_remaining(1000, D(250)) == 750
    assert quota_remaining(1000, 1200) == 0


def test_invoice_to_dict_is_json() -> None:
    inv = rate(HYBRID, "USD", 12345, period=FEB)
    data = json.loads(json.dumps(inv.to_dict()))
    assert data["total"] == "150.45"
    assert data["lines"][2]["quantity"] == "12245"
    assert data["period"]["start"].startswith("2026-02-01")
    assert inv.total_minor == 15045
    assert inv.usage_total == D("122.45")


def test_fractional_quantities() -> None:
    tiers = [{"up_to": 10, "unit_amount": "1"}, {"up_to": None, "unit_amount": "0.5"}]
    spec = parse_pricing(
        {"usage": {"meter": "tokens", "model": "graduated", "tiers": tiers}}, "USD"
    )
    inv = rate(spec, "USD", D("10.5"))
    assert inv.total == D("10.25")
    assert "0.5 x" in inv.lines[1].description


def test_rate_aggregates_and_rollup() -> None:
    from tollway.metering.aggregate import FixedWindows, fold
    from tollway.metering.events import UsageEvent
    from tollway.metering.meters import DEFAULT_METER, Aggregation
    from tollway.pricing.rating import rate_aggregates

    t0 = FEB.start_ms
    events = [
        UsageEvent(
            event_id=f"e{i}", timestamp_ms=t0 + i * 600_000, organization_id="o", api_id="a",
            operation_id=None, method="GET", status=200, latency_ms=1, request_bytes=1,
            response_bytes=1, application_id="app", subscription_id="s", credential_id="k",
            consumer_id="u", environment="production",
        )
        for i in range(250)
    ]  # fmt: skip
    hourly = fold(DEFAULT_METER, events, FixedWindows(3_600_000))
    assert len(hourly) > 1
    period_agg = hourly.rollup("s", "requests", Aggregation.COUNT, FEB.start_ms, FEB.end_ms)
    assert period_agg.value == 250
    inv = rate_aggregates(HYBRID, "USD", {"requests": period_agg}, period=FEB)
    assert inv.total == D("29.50")
    assert rate_aggregates(HYBRID, "USD", {}).total == D("28.00")
    assert rate_aggregates(HYBRID, "USD", {"requests": D(300)}).total == D("30.00")


def test_describe_pricing() -> None:
    from tollway.pricing.rating import describe_pricing

    inr = parse_pricing(
        {
            "flat_fee": "999",
            "included_units": 10000,
            "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"},
        },
        "INR",
    )
    assert (
        describe_pricing(inr, interval="month")
        == "₹999.00 per month, includes 10,000 requests, then ₹0.01 per unit of requests"
    )
    assert describe_pricing(parse_pricing({}, "USD")) == "Free"
    tiers = [
        {"up_to": 10, "unit_amount": "1"},
        {"up_to": None, "unit_amount": "0.5", "flat_amount": "2"},
    ]
    vol = parse_pricing({"usage": {"meter": "calls", "model": "volume", "tiers": tiers}}, "USD")
    assert describe_pricing(vol) == "calls volume: 1-10 at $1.00, 11 and above at $0.50 + $2.00"
