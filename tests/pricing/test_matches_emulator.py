"""The same usage rated by Tollway's pricing core and invoiced by the Stripe emulator
(through the official SDK) gives the same amounts, to the cent: coupons on a hybrid
plan, a trial, a mid-period upgrade with usage on both sides, two meters, a custom
interval, spend so far, before tax. The Stripe prices are written by hand here from the
pricing (as docs/stripe.md maps them), so the test does not depend on the billing
engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stripe_emulator import Emulator, running_emulator
from tollway.domain.money import from_minor, to_minor
from tollway.domain.periods import period_containing
from tollway.pricing.changes import (
    ProrationBehavior,
    Trial,
    invoice_after_change,
    plan_change,
    rate_trial,
    trial_period,
)
from tollway.pricing.discounts import Coupon, CouponDuration, apply_coupon
from tollway.pricing.prices import PriceModel, PricingSpec, UsagePrice
from tollway.pricing.rating import rate
from tollway.pricing.spec import parse_pricing
from tollway.pricing.spend import SpendRater

D = Decimal
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86400
FEB1 = T0 + 31 * DAY
HYBRID: dict[str, Any] = {
    "flat_fee": "49.00",
    "included_units": 10000,
    "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running_emulator(
        meter_event_delay_s=0, rate_limit_per_s=None, invoice_finalization_grace_s=0
    ) as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator) -> stripe.StripeClient:
    emulator.reset()
    return emulator.client()


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


def stripe_prices(
    client: stripe.StripeClient, spec: PricingSpec, interval: str = "month", count: int = 1
) -> list[str]:
    """Stripe prices for a Tollway pricing (USD): a licensed fee, a metered price per
    usage price on its own meter (included units as a free first tier)."""
    prod = client.v1.products.create(params={"name": "API"}).id
    recurring: Any = {"interval": interval, "interval_count": count}
    out: list[str] = []
    if spec.flat_fee:
        out.append(client.v1.prices.create(params={
            "product": prod, "currency": "usd", "unit_amount": _cents(spec.flat_fee),
            "recurring": recurring})["id"])  # fmt: skip
    for u in spec.usage_prices:
        mtr = client.v1.billing.meters.create(params={
            "display_name": u.meter, "event_name": u.meter,
            "default_aggregation": {"formula": "sum"}}).id  # fmt: skip
        metered = {**recurring, "usage_type": "metered", "meter": mtr}
        params: Any = {"product": prod, "currency": "usd", "recurring": metered}
        params.update(_usage_params(u))
        out.append(client.v1.prices.create(params=params).id)
    return out


def _usage_params(u: UsagePrice) -> dict[str, Any]:
    def dec(x: Decimal) -> str:
        return f"{(x * 100).normalize():f}"

    if u.model is PriceModel.PACKAGE:
        assert u.unit_amount is not None and not u.included_units
        return {"unit_amount_decimal": dec(u.unit_amount),
                "transform_quantity": {"divide_by": u.package_size, "round": "up"}}  # fmt: skip
    if u.model is PriceModel.UNIT and not u.included_units:
        assert u.unit_amount is not None
        return {"unit_amount_decimal": dec(u.unit_amount)}
    tiers: list[dict[str, Any]] = (
        [{"up_to": None, "unit_amount": u.unit_amount, "flat_amount": D(0)}]
        if u.model is PriceModel.UNIT
        else [
            {"up_to": t.up_to, "unit_amount": t.unit_amount, "flat_amount": t.flat_amount}
            for t in u.tiers
        ]  # fmt: skip
    )
    shifted: list[dict[str, Any]] = []
    if u.included_units:
        shifted.append({"up_to": u.included_units, "unit_amount_decimal": "0"})
    for t in tiers:
        up = t["up_to"]
        shifted.append({
            "up_to": "inf" if up is None else up + u.included_units,
            "unit_amount_decimal": dec(t["unit_amount"]),
            "flat_amount": _cents(t["flat_amount"])})  # fmt: skip
    mode = "volume" if u.model is PriceModel.VOLUME else "graduated"
    return {"billing_scheme": "tiered", "tiers_mode": mode, "tiers": shifted}


def customer(client: stripe.StripeClient, **extra: Any) -> tuple[str, str]:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0}).id
    params: Any = {
        "payment_method": "pm_card_visa",
        "test_clock": clock,
        "invoice_settings": {"default_payment_method": "pm_card_visa"},
        **extra,
    }
    cus = client.v1.customers.create(params=params).id
    return clock, cus


def report(client: stripe.StripeClient, cus: str, usage: dict[str, int], ts: int) -> None:
    for meter, value in usage.items():
        if value:
            client.v1.billing.meter_events.create(params={
                "event_name": meter, "timestamp": ts, "identifier": f"{meter}-{ts}-{value}",
                "payload": {"stripe_customer_id": cus, "value": str(value)}})  # fmt: skip


def advance(client: stripe.StripeClient, clock: str, to: int) -> None:
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": to})


def last_invoice(client: stripe.StripeClient, sub: str) -> stripe.Invoice:
    return client.v1.invoices.list(params={"subscription": sub, "limit": 1}).data[0]


def subscribe(client: stripe.StripeClient, cus: str, prices: list[str], **extra: Any) -> str:
    params: Any = {"customer": cus, "items": [{"price": p} for p in prices], **extra}
    return client.v1.subscriptions.create(params=params).id


def test_percent_coupon_on_a_hybrid_plan(client: stripe.StripeClient) -> None:
    spec = parse_pricing(HYBRID, "USD")
    clock, cus = customer(client)
    coupon = client.v1.coupons.create(params={"percent_off": 15, "duration": "forever"}).id
    sub = subscribe(client, cus, stripe_prices(client, spec), discounts=[{"coupon": coupon}])
    advance(client, clock, T0 + 2 * DAY)
    report(client, cus, {"requests": 25_005}, T0 + DAY)
    advance(client, clock, FEB1 + 60)
    ours = apply_coupon(
        rate(spec, "USD", 25_005), Coupon(CouponDuration.FOREVER, percent_off=D(15))
    )
    inv = last_invoice(client, sub)
    assert ours.total == D("67.16") and inv.total == to_minor(ours.total, "USD")
    assert inv.total_discount_amounts and inv.total_discount_amounts[0].amount == to_minor(
        ours.discount, "USD"
    )


def test_trial_then_the_first_paid_invoice(client: stripe.StripeClient) -> None:
    spec = parse_pricing(HYBRID, "USD")
    clock, cus = customer(client)
    sub = subscribe(client, cus, stripe_prices(client, spec), trial_period_days=14)
    advance(client, clock, T0 + 2 * DAY)
    report(client, cus, {"requests": 13_000}, T0 + DAY)
    advance(client, clock, T0 + 14 * DAY + 60)
    period = trial_period(datetime.fromtimestamp(T0, UTC), Trial(14))
    trial = rate_trial(spec, "USD", 13_000, period=period)
    inv = last_invoice(client, sub)
    assert inv.total == to_minor(trial.total + spec.flat_fee, "USD") == 4900
    assert inv.period_end == int(period.end.timestamp())


@pytest.mark.parametrize(
    ("how", "now_total", "closing_total"),
    [("create_prorations", None, "107.10"), ("always_invoice", "37.10", "70.00"),
     ("none", None, "70.00")],
)  # fmt: skip
def test_mid_period_upgrade_with_usage_on_both_sides(
    client: stripe.StripeClient, how: str, now_total: str | None, closing_total: str
) -> None:
    def plan(fee: str, unit: str) -> PricingSpec:
        usage = {"meter": "requests", "model": "unit", "unit_amount": unit}
        return parse_pricing({"flat_fee": fee, "usage": usage}, "USD")

    basic, pro = plan("10.00", "0.01"), plan("50.00", "0.005")
    clock, cus = customer(client)
    old = stripe_prices(client, basic)
    product = str(client.v1.prices.retrieve(old[0]).product)
    recurring = client.v1.prices.retrieve(old[1]).recurring
    assert recurring is not None and recurring.meter is not None
    new_fee = client.v1.prices.create(
        params={
            "product": product,
            "currency": "usd",
            "unit_amount": 5000,
            "recurring": {"interval": "month"},
        }  # fmt: skip
    ).id
    metered: Any = {"interval": "month", "usage_type": "metered", "meter": recurring.meter}
    new_use = client.v1.prices.create(
        params={
            "product": product,
            "currency": "usd",
            "unit_amount_decimal": D("0.5"),
            "recurring": metered,
        }  # fmt: skip
    ).id
    sub = client.v1.subscriptions.create(params={
        "customer": cus, "items": [{"price": p} for p in old],
        "billing_mode": {"type": "flexible"}})  # fmt: skip
    advance(client, clock, T0 + 6 * DAY)
    report(client, cus, {"requests": 1000}, T0 + 5 * DAY)
    at = T0 + 10 * DAY
    advance(client, clock, at)
    items = sub.items.data
    client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": items[0].id, "price": new_fee}, {"id": items[1].id, "price": new_use}],
        "proration_behavior": how})  # fmt: skip
    advance(client, clock, T0 + 21 * DAY)
    report(client, cus, {"requests": 4000}, T0 + 20 * DAY)
    advance(client, clock, FEB1 + 60)
    period = period_containing(datetime.fromtimestamp(T0, UTC), "month",
                               datetime.fromtimestamp(at, UTC))  # fmt: skip
    change = plan_change(basic, pro, period, datetime.fromtimestamp(at, UTC), 1000,
                         behavior=ProrationBehavior(how))  # fmt: skip
    closing = invoice_after_change(change, pro, period, 4000)
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert closing.total == D(closing_total)
    assert invoices[0].total == to_minor(closing.total, "USD")
    if now_total is not None:
        assert change.total(change.billed_now) == D(now_total)
        assert invoices[1].billing_reason == "subscription_update"
        assert invoices[1].total == to_minor(change.total(change.billed_now), "USD")


def test_two_meters_on_a_two_week_cycle(client: stripe.StripeClient) -> None:
    spec = parse_pricing({"usage": [
        {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
        {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000},
    ]}, "USD", several_meters=True)  # fmt: skip
    clock, cus = customer(client)
    sub = subscribe(client, cus, stripe_prices(client, spec, "week", 2))
    usage = {"requests": 12_345, "tokens": 2_500_001}
    advance(client, clock, T0 + 2 * DAY)
    report(client, cus, usage, T0 + DAY)
    preview = client.v1.invoices.create_preview(params={"subscription": sub})
    rater = SpendRater(spec)
    assert preview.total == to_minor(rater.usage_cost(usage), "USD")
    advance(client, clock, T0 + 14 * DAY + 60)
    rated = rate(spec, "USD", usage)
    inv = last_invoice(client, sub)
    assert rated.total == D("49.70") and inv.total == to_minor(rated.total, "USD")
    assert sorted(li.amount for li in inv.lines.data) == sorted(
        to_minor(a, "USD") for a in rated.by_price().values()
    )
    anchor = datetime.fromtimestamp(T0, UTC)
    nxt = period_containing(anchor, "week", datetime.fromtimestamp(T0 + 15 * DAY, UTC), count=2)
    item = client.v1.subscriptions.retrieve(sub).items.data[0]
    assert (item.current_period_start, item.current_period_end) == (
        int(nxt.start.timestamp()), int(nxt.end.timestamp()))  # fmt: skip


def test_estimate_before_tax_matches_the_total_excluding_tax(
    emulator: Emulator, client: stripe.StripeClient
) -> None:
    emulator.configure(tax_rates={"DE": 19})
    spec = parse_pricing(HYBRID, "USD")
    clock, cus = customer(client, address={"country": "DE"})
    sub = subscribe(client, cus, stripe_prices(client, spec), automatic_tax={"enabled": True})
    advance(client, clock, T0 + 2 * DAY)
    report(client, cus, {"requests": 20_000}, T0 + DAY)
    preview = client.v1.invoices.create_preview(params={"subscription": sub})
    ours = rate(spec, "USD", 20_000, before_tax=True)
    assert ours.before_tax and preview.total_excluding_tax == to_minor(ours.total, "USD")
    assert preview.total > preview.total_excluding_tax  # Stripe adds the tax on top


usage_plans = st.fixed_dictionaries({
    "model": st.sampled_from(["unit", "graduated", "volume", "package"]),
    "included": st.sampled_from([0, 0, 100]),
    "price": st.sampled_from(["0.002", "0.015", "0.5", "1.25"]),
    "fee": st.sampled_from(["0", "9.99", "49.00"]),
})  # fmt: skip
coupons = st.one_of(
    st.none(),
    st.builds(lambda p: Coupon(CouponDuration.FOREVER, percent_off=D(p)),
              st.sampled_from(["5", "12.5", "33.33", "100"])),
    st.builds(lambda c: Coupon(CouponDuration.FOREVER, amount_off=from_minor(c, "USD"),
                               currency="USD"), st.sampled_from([1, 333, 1000, 99999])),
)  # fmt: skip


def _spec(plan: dict[str, Any]) -> PricingSpec:
    usage: dict[str, Any] = {"meter": "requests", "model": plan["model"]}
    if plan["model"] in ("unit", "package"):
        usage["unit_amount"] = plan["price"]
    if plan["model"] == "package":
        usage["package_size"] = 100
    if plan["model"] in ("graduated", "volume"):
        usage["tiers"] = [{"up_to": 50, "unit_amount": plan["price"], "flat_amount": "1.00"},
                          {"up_to": None, "unit_amount": "0.001"}]  # fmt: skip
    included = plan["included"] if plan["model"] in ("unit", "graduated") else 0
    return parse_pricing({"flat_fee": plan["fee"], "included_units": included, "usage": usage},
                         "USD")  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=usage_plans, used=st.integers(0, 5000), coupon=coupons)
def test_previews_with_coupons_match_to_the_cent(
    emulator: Emulator, plan: dict[str, Any], used: int, coupon: Coupon | None
) -> None:
    """Random plans, usage and coupons: the emulator's preview of the next invoice (usage
    so far + next fee) equals Tollway's rating with the coupon applied."""
    emulator.reset()
    client = emulator.client()
    spec = _spec(plan)
    extra: dict[str, Any] = {}
    if coupon is not None:
        params: Any = {"duration": "forever"}
        if coupon.percent_off is not None:
            params["percent_off"] = float(coupon.percent_off)
        else:
            assert coupon.amount_off is not None
            params |= {"amount_off": to_minor(coupon.amount_off, "USD"), "currency": "usd"}
        extra["discounts"] = [{"coupon": client.v1.coupons.create(params=params).id}]
    clock, cus = customer(client)
    sub = subscribe(client, cus, stripe_prices(client, spec), **extra)
    advance(client, clock, T0 + 2 * DAY)
    report(client, cus, {"requests": used}, T0 + DAY)
    preview = client.v1.invoices.create_preview(params={"subscription": sub})
    ours = apply_coupon(rate(spec, "USD", used), coupon)
    assert preview.total == to_minor(ours.total, "USD"), (ours, preview.lines)
