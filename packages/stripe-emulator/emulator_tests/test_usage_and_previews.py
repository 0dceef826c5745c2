"""Usage as Stripe processes it (late, deduplicated for 24 hours), metered flat fees in
arrears, and invoice previews for new subscriptions and for item changes."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import Emulator

from .conftest import card_customer, flat_price
from .test_billing_cycle import DAY, FEB1, T0, clock_customer, meter, usage_price


def _send(client: stripe.StripeClient, customer: str, value: int, ident: str, ts: int) -> None:
    client.v1.billing.meter_events.create(
        params={
            "event_name": "calls",
            "identifier": ident,
            "timestamp": ts,
            "payload": {"stripe_customer_id": customer, "value": str(value)},
        }
    )


def test_meter_events_count_only_after_stripe_processed_them(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    emu.configure(meter_event_delay_s=5)  # the emulator's default: Stripe's lag
    emu.freeze_time()
    m = meter(client, "calls")
    prod = client.v1.products.create(params={"name": "API"}).id
    price = usage_price(client, prod, m, unit_amount=10)
    cus = card_customer(client).id
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    start = sub.items.data[0].current_period_start
    minute = start // 60 * 60
    _send(client, cus, 7, "first", start)

    def summary() -> float:
        s = client.v1.billing.meters.event_summaries.list(
            m, params={"customer": cus, "start_time": minute, "end_time": minute + 3600}
        )
        return s.data[0].aggregated_value

    assert summary() == 0
    assert client.v1.invoices.create_preview(params={"subscription": sub.id}).amount_due == 0
    emu.advance_time(4.9)
    assert summary() == 0
    emu.advance_time(0.2)
    assert summary() == 7
    assert client.v1.invoices.create_preview(params={"subscription": sub.id}).amount_due == 70


def test_identifiers_are_unique_for_a_rolling_24_hours_on_the_test_clock(
    client: stripe.StripeClient,
) -> None:
    meter(client, "calls")
    clock, cus = clock_customer(client)
    _send(client, cus, 1, "window-1", T0 - 60)
    with pytest.raises(stripe.InvalidRequestError, match="already exists with identifier"):
        _send(client, cus, 1, "window-1", T0 - 60)
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": T0 + DAY - 120})
    with pytest.raises(stripe.InvalidRequestError, match="already exists"):
        _send(client, cus, 1, "window-1", T0 + DAY - 180)
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": T0 + DAY})
    _send(client, cus, 1, "window-1", T0 + DAY - 60)  # a day later, the same id is new


def test_identifier_window_without_a_test_clock_follows_real_time(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    emu.configure(meter_event_identifier_window_s=600)
    meter(client, "calls")
    cus = client.v1.customers.create(params={}).id
    now = int(emu.advance_time(0))
    _send(client, cus, 1, "w", now - 60)
    emu.advance_time(590)
    with pytest.raises(stripe.InvalidRequestError):
        _send(client, cus, 1, "w", now)
    emu.advance_time(20)
    _send(client, cus, 1, "w", now)


def test_metered_tier_flat_amounts_are_billed_at_period_end(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "API"}).id
    base_fee = usage_price(
        client,
        prod,
        meter(client, "calls"),
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[
            {"up_to": 100, "unit_amount": 0, "flat_amount": 900},
            {"up_to": "inf", "unit_amount": 2},
        ],
    )
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": base_fee}]})
    first = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert first.amount_due == 0 and first.lines.data[0].amount == 0  # nothing in advance
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": T0 + 2 * DAY})
    _send(client, cus, 150, "u1", T0 + DAY)
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + 3600})
    cycle = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert cycle.billing_reason == "subscription_cycle" and cycle.amount_paid == 900 + 50 * 2


def test_preview_of_a_new_subscription(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "API"}).id
    fee = flat_price(client, prod, 1500)
    usage = usage_price(client, prod, meter(client, "calls"), unit_amount=3)
    cus = card_customer(client).id
    preview = client.v1.invoices.create_preview(
        params={
            "customer": cus,
            "subscription_details": {"items": [{"price": fee, "quantity": 2}, {"price": usage}]},
        }
    )
    assert preview.id.startswith("upcoming_in_") and preview.billing_reason == "subscription_create"
    assert preview.amount_due == 3000
    prices = {li.pricing.price_details.price: li.amount for li in preview.lines.data}
    assert prices == {fee: 3000, usage: 0}
    assert client.v1.subscriptions.list(params={"customer": cus}).data == []  # nothing created
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.invoices.create_preview(
            params={"customer": cus, "subscription_details": {"items": [{"price": "price_nope"}]}}
        )
    assert exc.value.param == "items[0][price]" and exc.value.http_status == 404


def test_preview_of_an_item_change_with_stripes_prorations(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "Seats"}).id
    basic, pro = flat_price(client, prod, 3000), flat_price(client, prod, 6000)
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": basic}]})
    item = sub.items.data[0].id
    halfway = T0 + (FEB1 - T0) // 2  # mid-January: half of the period remains
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": halfway})
    change = {"items": [{"id": item, "price": pro}], "proration_date": halfway}
    preview = client.v1.invoices.create_preview(
        params={"subscription": sub.id, "subscription_details": change}
    )
    lines = [(li.amount, li.parent.subscription_item_details.proration) for li in preview.lines]
    # unused half of basic credited, remaining half of pro charged, then February at pro
    assert lines == [(-1500, True), (3000, True), (6000, False)]
    assert preview.amount_due == 7500
    assert "Unused time" in preview.lines.data[0].description
    now = client.v1.invoices.create_preview(
        params={
            "subscription": sub.id,
            "subscription_details": {**change, "proration_behavior": "always_invoice"},
        }
    )
    assert now.amount_due == 1500 and now.billing_reason == "subscription_update"
    none = client.v1.invoices.create_preview(
        params={
            "subscription": sub.id,
            "subscription_details": {**change, "proration_behavior": "none"},
        }
    )
    assert none.amount_due == 6000
    # the update itself carries the same prorations onto the next invoice
    client.v1.subscriptions.update(
        sub.id, params={"items": [{"id": item, "price": pro}], "proration_date": halfway}
    )
    after = client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert after.amount_due == 7500
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + 3600})
    cycle = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert cycle.amount_paid == 7500
