"""Test clocks close periods: usage rated from meter events, charged, events sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator import Emulator

from .conftest import Receiver, card_customer, flat_price

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
FEB1 = 1_706_745_600  # 2024-02-01T00:00:00Z
DAY = 86400
GRACE = 3600  # Stripe keeps renewal invoices draft for an hour


def meter(client: stripe.StripeClient, name: str) -> str:
    return client.v1.billing.meters.create(
        params={"display_name": name, "event_name": name, "default_aggregation": {"formula": "sum"}}
    ).id


def usage_price(client: stripe.StripeClient, product: str, meter_id: str, **price: Any) -> str:
    return client.v1.prices.create(
        params={
            "product": product,
            "currency": "usd",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_id},
            **price,
        }
    ).id


def report(client: stripe.StripeClient, name: str, customer: str, value: int, ts: int) -> None:
    client.v1.billing.meter_events.create(
        params={
            "event_name": name,
            "timestamp": ts,
            "identifier": f"{name}-{customer}-{ts}-{value}",
            "payload": {"stripe_customer_id": customer, "value": str(value)},
        }
    )


def clock_customer(client: stripe.StripeClient, pm: str = "pm_card_visa") -> tuple[str, str]:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0, "name": "t"})
    cus = card_customer(client, pm, email="billing@example.com", test_clock=clock.id)
    return clock.id, cus.id


def test_customer_with_a_magic_payment_method(client: stripe.StripeClient) -> None:
    _, cus_id = clock_customer(client)
    cus = client.v1.customers.retrieve(cus_id)
    pm = client.v1.payment_methods.retrieve(cus.invoice_settings.default_payment_method)
    assert pm.customer == cus_id and pm.card.last4 == "4242" and pm.id.startswith("pm_")
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_methods.attach("pm_card_visa_chargeDeclined", params={"customer": cus_id})
    assert exc.value.http_status == 402 and exc.value.code == "card_declined"


def test_period_close_rates_every_price_model(
    client: stripe.StripeClient, endpoint: tuple[Receiver, str]
) -> None:
    receiver, secret = endpoint
    prod = client.v1.products.create(params={"name": "Fonts API"}).id
    names = ("grad", "vol", "pkg", "dec")
    meters = {n: meter(client, n) for n in names}
    typographic = [
        {"up_to": 5, "unit_amount": 700},
        {"up_to": 10, "unit_amount": 650},
        {"up_to": "inf", "unit_amount": 600},
    ]
    prices = {
        "grad": usage_price(
            client,
            prod,
            meters["grad"],
            billing_scheme="tiered",
            tiers_mode="graduated",
            tiers=typographic,
        ),
        "vol": usage_price(
            client,
            prod,
            meters["vol"],
            billing_scheme="tiered",
            tiers_mode="volume",
            tiers=typographic,
        ),
        "pkg": usage_price(
            client,
            prod,
            meters["pkg"],
            unit_amount=2500,
            transform_quantity={"divide_by": 5, "round": "up"},
        ),
        "dec": usage_price(client, prod, meters["dec"], unit_amount_decimal="0.5"),
    }
    fee = flat_price(client, prod, 1500)
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [*({"price": p} for p in prices.values()), {"price": fee, "quantity": 2}],
        }
    )
    assert sub.status == "active" and sub.id.startswith("sub_")
    assert {i.current_period_start for i in sub.items.data} == {T0}
    assert {i.current_period_end for i in sub.items.data} == {FEB1}
    first = client.v1.invoices.retrieve(sub.latest_invoice)
    assert first.amount_paid == 3000 and first.status == "paid"

    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": T0 + 20 * DAY})
    for name, quantity in (("grad", 6), ("vol", 20), ("pkg", 8), ("dec", 1234)):
        report(client, name, cus, quantity - 1, T0 + 2 * DAY)
        report(client, name, cus, 1, T0 + 19 * DAY)
    report(client, "grad", cus, 1000, T0 - DAY)  # before the period: not billed
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert preview.amount_due == 4150 + 12000 + 5000 + 617 + 3000

    clock_obj = client.v1.test_helpers.test_clocks.advance(
        clock, params={"frozen_time": FEB1 + 3600}
    )
    assert clock_obj.status == "ready" and clock_obj.frozen_time == FEB1 + 3600
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert len(invoices) == 2
    inv = invoices[0]
    assert inv.billing_reason == "subscription_cycle" and inv.status == "paid"
    assert (inv.period_start, inv.period_end) == (T0, FEB1)
    amounts = {li.pricing.price_details.price: li.amount for li in inv.lines.data}
    assert amounts == {
        prices["grad"]: 4150,
        prices["vol"]: 12000,
        prices["pkg"]: 5000,
        prices["dec"]: 617,
        fee: 3000,
    }
    assert inv.amount_paid == inv.total == 24767 and inv.number.endswith("-0002")
    renewed = client.v1.subscriptions.retrieve(sub.id)
    assert {i.current_period_start for i in renewed.items.data} == {FEB1}
    events = receiver.wait_for(
        lambda evs: any(
            e["type"] == "invoice.payment_succeeded" and e["data"]["object"]["id"] == inv.id
            for e in evs
        )
    )
    mine = [e["type"] for e in events if e["data"]["object"].get("id") in (inv.id, sub.id)]
    for t in (
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ):
        assert t in mine
    created = next(
        e for e in events if e["type"] == "invoice.created" and e["data"]["object"]["id"] == inv.id
    )
    assert created["created"] == FEB1  # clock time, not wall time
    stripe.Webhook.construct_event(
        receiver.requests[-1]["body"], receiver.requests[-1]["headers"]["Stripe-Signature"], secret
    )


def test_failed_renewal_goes_past_due_then_unpaid_then_portal_fixes_it(
    emu: Emulator, client: stripe.StripeClient, http: httpx.Client, endpoint: tuple[Receiver, str]
) -> None:
    receiver, _ = endpoint
    emu.save_portal_settings()
    prod = client.v1.products.create(params={"name": "API"}).id
    price = usage_price(client, prod, meter(client, "calls"), unit_amount=10)
    clock, cus = clock_customer(client, "pm_card_chargeCustomerFail")
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    assert sub.status == "active"  # the first invoice is zero
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": T0 + 10 * DAY})
    report(client, "calls", cus, 100, T0 + 9 * DAY)
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + 60})
    draft = client.v1.invoices.list(params={"subscription": sub.id, "status": "draft"}).data[0]
    assert draft.automatically_finalizes_at == FEB1 + GRACE and draft.attempt_count == 0
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"  # not charged yet
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + GRACE})
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    inv = client.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).data[0]
    assert inv.id == draft.id and inv.amount_due == 1000 and inv.attempt_count == 1
    assert inv.next_payment_attempt == FEB1 + GRACE + 3 * DAY
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + 20 * DAY})
    inv = client.v1.invoices.retrieve(inv.id)
    assert inv.attempt_count == 4 and inv.next_payment_attempt is None
    assert client.v1.subscriptions.retrieve(sub.id).status == "unpaid"
    events = receiver.wait_for(
        lambda evs: (
            sum(e["type"] == "invoice.payment_failed" for e in evs) >= 4
            and any(e["data"]["object"].get("status") == "unpaid" for e in evs)
        )
    )
    statuses = [
        e["data"]["object"]["status"]
        for e in events
        if e["type"] == "customer.subscription.updated"
        and "status" in e["data"].get("previous_attributes", {})
    ]
    assert statuses == ["past_due", "unpaid"]

    portal = client.v1.billing_portal.sessions.create(
        params={"customer": cus, "return_url": "http://127.0.0.1:9/account"}
    )
    assert portal.id.startswith("bps_") and portal.object == "billing_portal.session"
    page = http.get(portal.url)
    assert page.status_code == 200 and "development tool" in page.text
    assert sub.id in page.text and inv.number in page.text and "unpaid" in page.text
    form = portal.url + "/card"
    declined = http.post(
        form, data={"card_number": "4000000000009995", "expiry": "1/30", "cvc": "1"}
    )
    assert "insufficient funds" in http.get(declined.headers["location"]).text
    fixed = http.post(form, data={"card_number": "4242424242424242", "expiry": "1/30", "cvc": "1"})
    assert fixed.status_code == 303 and "1 open invoice" in http.get(fixed.headers["location"]).text
    assert client.v1.invoices.retrieve(inv.id).status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    receiver.wait_for(
        lambda evs: any(
            e["type"] == "invoice.payment_succeeded" and e["data"]["object"]["id"] == inv.id
            for e in evs
        )
    )


def test_authentication_required_card(
    client: stripe.StripeClient, endpoint: tuple[Receiver, str]
) -> None:
    receiver, _ = endpoint
    prod = client.v1.products.create(params={"name": "API"}).id
    fee = flat_price(client, prod, 900)
    clock, cus = clock_customer(client, "pm_card_authenticationRequired")
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": fee}]})
    assert sub.status == "active"  # on-session first payment authenticates
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + GRACE})
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    receiver.wait_types("invoice.payment_action_required")


def test_cancel_at_period_end_and_cancel_now(
    client: stripe.StripeClient, http: httpx.Client, endpoint: tuple[Receiver, str]
) -> None:
    receiver, _ = endpoint
    prod = client.v1.products.create(params={"name": "API"}).id
    price = usage_price(client, prod, meter(client, "calls"), unit_amount=3)
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    sub = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert sub.cancel_at_period_end is True and sub.cancel_at == FEB1
    report(client, "calls", cus, 7, T0 + 60)
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + 1})
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == FEB1
    final = client.v1.invoices.retrieve(ended.latest_invoice)
    assert final.status == "draft" and final.amount_due == 21
    report(client, "calls", cus, 1, FEB1 - 30)  # late, but inside the finalization grace
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + GRACE})
    final = client.v1.invoices.retrieve(ended.latest_invoice)
    assert final.status == "paid" and final.amount_paid == 24
    receiver.wait_types("customer.subscription.deleted")
    assert client.v1.subscriptions.list(params={"customer": cus}).data == []
    assert len(client.v1.subscriptions.list(params={"customer": cus, "status": "all"}).data) == 1

    other = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    report(client, "calls", cus, 5, FEB1 + GRACE + 30)
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": FEB1 + 2 * GRACE})
    gone = client.v1.subscriptions.cancel(other.id, params={"invoice_now": True})
    assert gone.status == "canceled"
    last = client.v1.invoices.retrieve(gone.latest_invoice)
    assert last.amount_due == 15 and last.status == "paid"  # finalized and charged at once
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(other.id)


def test_subscription_errors_and_items(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "API"}).id
    monthly = flat_price(client, prod, 100)
    yearly = flat_price(client, prod, 100, "year")
    cus = client.v1.customers.create(params={}).id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.create(
            params={"customer": cus, "items": [{"price": monthly}, {"price": yearly}]}
        )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.create(
            params={"customer": "cus_nope", "items": [{"price": monthly}]}
        )
    assert exc.value.http_status == 404 and exc.value.param == "customer"
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": monthly}]})
    assert sub.status == "incomplete"  # no payment method
    items = client.v1.subscription_items.list(params={"subscription": sub.id})
    assert [i.id for i in items.data] == [sub.items.data[0].id]
    assert items.data[0].id.startswith("si_")


def test_incomplete_expires_and_trials_convert(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "API"}).id
    fee = flat_price(client, prod, 400)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0}).id
    bare = client.v1.customers.create(params={"test_clock": clock}).id
    pending = client.v1.subscriptions.create(params={"customer": bare, "items": [{"price": fee}]})
    assert pending.status == "incomplete"
    _, payer = clock_customer(client)
    # a second customer on another clock is not affected by this clock
    trial = client.v1.subscriptions.create(
        params={"customer": bare, "items": [{"price": fee}], "trial_period_days": 7}
    )
    assert trial.status == "trialing" and trial.trial_end == T0 + 7 * DAY
    assert trial.items.data[0].current_period_end == T0 + 7 * DAY
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": T0 + DAY})
    assert client.v1.subscriptions.retrieve(pending.id).status == "incomplete_expired"
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": T0 + 8 * DAY})
    converted = client.v1.subscriptions.retrieve(trial.id)
    assert converted.status == "past_due"  # the customer has no card
    assert converted.items.data[0].current_period_start == T0 + 7 * DAY
    inv = client.v1.invoices.retrieve(converted.latest_invoice)
    assert inv.amount_due == 400 and inv.status == "open"
    assert client.v1.subscriptions.list(params={"customer": payer}).data == []


def test_real_time_work_without_a_test_clock(emu: Any, client: stripe.StripeClient) -> None:
    """The background scheduler runs the same steps against wall time."""
    import time

    from stripe_emulator.lifecycle import run_due

    prod = client.v1.products.create(params={"name": "API"}).id
    fee = flat_price(client, prod, 400, "day")
    s = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": fee, "quantity": 1}],
            "success_url": "http://127.0.0.1:9/ok",
        }
    )
    cus = card_customer(client).id
    sub = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": fee}]})
    rt = emu.runtime
    with rt.state.lock:
        run_due(rt.ctx(), None, int(time.time()) + DAY + 60)
    assert client.v1.checkout.sessions.retrieve(s.id).status == "expired"
    renewed = client.v1.subscriptions.retrieve(sub.id)
    assert renewed.items.data[0].current_period_start == sub.items.data[0].current_period_end
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 2
