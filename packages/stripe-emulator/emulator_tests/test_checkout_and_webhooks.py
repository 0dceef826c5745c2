"""Hosted checkout with test cards, signed webhooks with retries, session expiry."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator

from .conftest import Receiver, pay_checkout


def plan(client: stripe.StripeClient, fee: int | None = 1500) -> list[dict[str, Any]]:
    prod = client.v1.products.create(params={"name": "Weather API Pro"})
    meter = client.v1.billing.meters.create(
        params={
            "display_name": "calls",
            "event_name": f"calls_{prod.id}",
            "default_aggregation": {"formula": "sum"},
        }
    )
    usage = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount_decimal": "0.5",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    items: list[dict[str, Any]] = [{"price": usage.id}]
    if fee is not None:
        base = client.v1.prices.create(
            params={
                "product": prod.id,
                "currency": "usd",
                "unit_amount": fee,
                "recurring": {"interval": "month"},
            }
        )
        items.append({"price": base.id, "quantity": 1})
    return items


def session(
    client: stripe.StripeClient, items: list[dict[str, Any]], **extra: Any
) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": items,
            "success_url": "http://127.0.0.1:9/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://127.0.0.1:9/cancel",
            "client_reference_id": "sub_local_1",
            "metadata": {"tollway_subscription": "s1"},
            **extra,
        }
    )


def test_checkout_session_shape_and_validation(client: stripe.StripeClient) -> None:
    items = plan(client)
    s = session(client, items, expand=["line_items"])
    assert s.id.startswith("cs_test_") and s.object == "checkout.session"
    assert s.status == "open" and s.payment_status == "unpaid" and s.mode == "subscription"
    assert s.url and "/checkout/pay/" in s.url and s.amount_total == 1500
    assert s.expires_at - s.created == 86400
    assert [li.quantity for li in s.line_items.data] == [None, 1]
    assert client.v1.checkout.sessions.line_items.list(s.id).data[1].amount_total == 1500
    with pytest.raises(stripe.InvalidRequestError) as exc:
        session(client, [{"price": items[0]["price"], "quantity": 2}])
    assert exc.value.param == "line_items[0][quantity]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        session(client, [{"price": items[1]["price"]}])
    assert exc.value.param == "line_items[0][quantity]"


def test_paying_with_4242_creates_customer_and_subscription(
    client: stripe.StripeClient, http: httpx.Client, endpoint: tuple[Receiver, str]
) -> None:
    receiver, secret = endpoint
    s = session(client, plan(client))
    resp = pay_checkout(http, s.url, "4242 4242 4242 4242")
    assert resp.status_code == 303
    target = urlsplit(resp.headers["location"])
    assert parse_qs(target.query)["session"] == [s.id] and target.path == "/done"
    done = client.v1.checkout.sessions.retrieve(s.id, params={"expand": ["subscription"]})
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.customer.startswith("cus_") and done.customer_details.email == "buyer@example.com"
    sub = done.subscription
    assert sub.status == "active" and sub.metadata.to_dict() == {}
    assert len(sub.items.data) == 2
    item = sub.items.data[0]
    assert item.current_period_end > item.current_period_start
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "paid" and invoice.amount_paid == 1500
    assert invoice.billing_reason == "subscription_create"
    events = receiver.wait_types(
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.payment_succeeded",
        "invoice.created",
        "invoice.finalized",
    )
    for req in receiver.requests:
        event = stripe.Webhook.construct_event(
            req["body"], req["headers"]["Stripe-Signature"], secret
        )
        assert event.id.startswith("evt_")
    completed = next(e for e in events if e["type"] == "checkout.session.completed")
    assert completed["data"]["object"]["id"] == s.id
    assert completed["data"]["object"]["client_reference_id"] == "sub_local_1"
    assert completed["data"]["object"]["metadata"] == {"tollway_subscription": "s1"}
    with pytest.raises(stripe.SignatureVerificationError):
        req = receiver.requests[0]
        stripe.Webhook.construct_event(
            req["body"], req["headers"]["Stripe-Signature"], "whsec_wrong"
        )
    # a completed session cannot be paid twice
    assert http.get(s.url).status_code == 200
    assert "complete" in http.get(s.url).text


def test_declined_card_shows_an_error_and_keeps_the_session_open(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    s = session(client, plan(client))
    resp = pay_checkout(http, s.url, "4000 0000 0000 9995")
    assert resp.status_code == 402 and "insufficient funds" in resp.text
    assert client.v1.checkout.sessions.retrieve(s.id).status == "open"
    assert client.v1.customers.list().data == []
    bad = pay_checkout(http, s.url, "4242 4242 4242 4241")
    assert bad.status_code == 402 and "incorrect" in bad.text


def test_card_0341_attaches_but_the_first_invoice_fails(
    client: stripe.StripeClient, http: httpx.Client, endpoint: tuple[Receiver, str]
) -> None:
    receiver, _ = endpoint
    s = session(client, plan(client))
    assert pay_checkout(http, s.url, "4000000000000341").status_code == 303
    done = client.v1.checkout.sessions.retrieve(s.id)
    assert done.status == "complete" and done.payment_status == "unpaid"
    sub = client.v1.subscriptions.retrieve(done.subscription)
    assert sub.status == "past_due"
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.next_payment_attempt is not None
    receiver.wait_types("invoice.payment_failed", "checkout.session.completed")
    pms = client.v1.payment_methods.list(params={"customer": done.customer, "type": "card"})
    assert [pm.card.last4 for pm in pms.data] == ["0341"]


def test_metered_only_plan_first_invoice_is_zero(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    s = session(client, plan(client, fee=None))
    assert s.amount_total == 0
    pay_checkout(http, s.url, "4000000000000341")
    done = client.v1.checkout.sessions.retrieve(s.id, params={"expand": ["subscription"]})
    assert done.payment_status == "no_payment_required" and done.subscription.status == "active"


def test_expire_endpoint_and_expiry_by_test_clock(
    client: stripe.StripeClient, endpoint: tuple[Receiver, str]
) -> None:
    receiver, _ = endpoint
    items = plan(client)
    s = session(client, items)
    expired = client.v1.checkout.sessions.expire(s.id)
    assert expired.status == "expired" and expired.url is None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(s.id)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_700_000_000})
    cus = client.v1.customers.create(params={"test_clock": clock.id, "email": "c@example.com"})
    s2 = session(client, items, customer=cus.id)
    assert s2.expires_at == 1_700_000_000 + 86400
    client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": 1_700_000_000 + 86400 + 1}
    )
    assert client.v1.checkout.sessions.retrieve(s2.id).status == "expired"
    events = receiver.wait_for(
        lambda evs: sum(e["type"] == "checkout.session.expired" for e in evs) == 2
    )
    assert {
        e["data"]["object"]["id"] for e in events if e["type"] == "checkout.session.expired"
    } == {s.id, s2.id}


def test_failed_deliveries_are_retried_with_backoff(
    emu: Emulator, client: stripe.StripeClient, endpoint: tuple[Receiver, str]
) -> None:
    receiver, secret = endpoint
    receiver.statuses = [500, 503]
    client.v1.customers.create(params={"email": "retry@example.com"})
    events = receiver.wait_types("customer.created")
    attempts = [r["status"] for r in receiver.requests]
    assert attempts == [500, 503, 200]
    emu.deliver_webhooks()  # waits for the attempt in flight to be recorded
    evt = client.v1.events.retrieve(events[0]["id"])
    assert evt.pending_webhooks == 0
    stamps = [int(r["headers"]["Stripe-Signature"].split(",")[0][2:]) for r in receiver.requests]
    assert stamps == sorted(stamps)
    log = emu.webhook_log()["log"]
    assert [entry["status"] for entry in log][-3:] == [500, 503, 200]


def test_deliver_now_and_endpoint_filters(
    emu: Emulator, client: stripe.StripeClient, receiver: Receiver
) -> None:
    we = client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.updated"]}
    )
    assert we.id.startswith("we_") and we.secret.startswith("whsec_")
    assert "secret" not in client.v1.webhook_endpoints.retrieve(we.id)
    cus = client.v1.customers.create(params={})
    client.v1.customers.update(cus.id, params={"name": "Grace"})
    emu.deliver_webhooks()
    events = receiver.wait_types("customer.updated")
    assert {e["type"] for e in events} == {"customer.updated"}
    assert events[0]["data"]["previous_attributes"] == {"name": None}
    listed = client.v1.events.list(params={"type": "customer.*"})
    assert [e.type for e in listed.data] == ["customer.updated", "customer.created"]


def test_webhooks_only_to_loopback(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.webhook_endpoints.create(
            params={"url": "https://example.com/hook", "enabled_events": ["*"]}
        )
    assert exc.value.param == "url" and "loopback" in str(exc.value.user_message)


def test_a_hanging_endpoint_does_not_hold_up_others(
    client: stripe.StripeClient, endpoint: tuple[Receiver, str]
) -> None:
    import socket

    receiver, _ = endpoint
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})
        client.v1.customers.create(params={"email": "a@example.com"})
        client.v1.customers.create(params={"email": "b@example.com"})
        events = receiver.wait_for(
            lambda evs: sum(e["type"] == "customer.created" for e in evs) == 2, timeout=5
        )
        assert {e["data"]["object"]["email"] for e in events} == {"a@example.com", "b@example.com"}
    finally:
        silent.close()
