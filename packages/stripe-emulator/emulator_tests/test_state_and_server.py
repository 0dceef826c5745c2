"""Persistence across restarts, reset, loopback-only serving, portal cancel, expansion."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import stripe

from stripe_emulator import cli_help
from stripe_emulator.server import is_loopback_host, serve
from stripe_emulator.testing import Emulator, running_emulator

from .conftest import Receiver, card_customer, flat_price


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "stripe.json"
    with running_emulator(state_file=path) as emu:
        client = emu.client()
        prod = client.v1.products.create(params={"name": "Persistent"})
        key, account = emu.api_key, emu.account_id
    assert path.exists()
    with running_emulator(state_file=path) as emu2:
        assert emu2.api_key == key and emu2.account_id == account
        assert emu2.client().v1.products.retrieve(prod.id).name == "Persistent"
        emu2.reset()
        with pytest.raises(stripe.InvalidRequestError):
            emu2.client().v1.products.retrieve(prod.id)
        assert emu2.client().v1.accounts.retrieve_current().id == account


def test_refuses_to_bind_beyond_loopback() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1")
    assert is_loopback_host("localhost") and not is_loopback_host("0.0.0.0")
    with pytest.raises(SystemExit, match="development tool"):
        serve(host="0.0.0.0", port=0)
    assert "development tool" in cli_help.lower() and "--allow-remote" in cli_help


def test_portal_cancel_buttons(
    emu: Emulator, client: stripe.StripeClient, http: httpx.Client
) -> None:
    default_config = emu.save_portal_settings()
    prod = client.v1.products.create(params={"name": "Plan"}).id
    price = flat_price(client, prod, 500)
    cus = card_customer(client).id
    a = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    b = client.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price}]})
    portal = client.v1.billing_portal.sessions.create(params={"customer": cus})
    configs = client.v1.billing_portal.configurations.list().data
    assert [c.id for c in configs] == [portal.configuration] == [default_config]
    assert configs[0].is_default is True
    r = http.post(portal.url + "/cancel", data={"subscription": a.id, "mode": "at_period_end"})
    assert r.status_code == 303
    assert client.v1.subscriptions.retrieve(a.id).cancel_at_period_end is True
    http.post(portal.url + "/cancel", data={"subscription": b.id, "mode": "now"})
    assert client.v1.subscriptions.retrieve(b.id).status == "canceled"
    page = http.get(portal.url).text
    assert "cancels at period end" in page and "canceled" in page
    invoice = client.v1.invoices.retrieve(a.latest_invoice)
    assert invoice.hosted_invoice_url and "paid" in http.get(invoice.hosted_invoice_url).text


def test_expansion(client: stripe.StripeClient, emu: Emulator) -> None:
    prod = client.v1.products.create(
        params={
            "name": "Plan",
            "default_price_data": {
                "currency": "usd",
                "unit_amount": 700,
                "recurring": {"interval": "month"},
            },
        }
    )
    assert prod.default_price and prod.default_price.startswith("price_")
    cus = card_customer(client, email="x@example.com")
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": prod.default_price}],
            "expand": ["latest_invoice", "customer", "items.data.price.product"],
        }
    )
    assert sub.latest_invoice.object == "invoice" and sub.latest_invoice.amount_paid == 700
    assert sub.customer.email == "x@example.com"
    assert sub.items.data[0].price.product.name == "Plan"
    assert sub.items.data[0].plan.amount == 700 and sub.items.data[0].plan.interval == "month"
    listed = client.v1.subscriptions.list(params={"expand": ["data.customer"]})
    assert listed.data[0].customer.id == cus.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.retrieve(sub.id, params={"expand": ["nonsense"]})
    deleted = client.v1.customers.delete(cus.id)
    assert deleted.deleted is True
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert emu.deliver_webhooks()["pending"] == 0


def test_deliver_endpoint_works_without_the_background_tasks(receiver: Receiver) -> None:
    """An app served without its lifespan (no delivery task) still delivers on demand."""
    from starlette.testclient import TestClient

    from stripe_emulator import EmulatorSettings, create_app
    from stripe_emulator.app import runtime_of

    app = create_app(settings=EmulatorSettings(rate_limit_per_s=None))
    key = runtime_of(app).state.key_of_type("secret")
    http = TestClient(app)  # not entered: the lifespan never runs
    made = http.post(
        "/v1/webhook_endpoints",
        data={"url": receiver.url, "enabled_events[]": "*"},
        auth=(key, ""),
    )
    assert made.status_code == 200, made.text
    assert http.post("/v1/customers", data={"email": "a@example.com"}, auth=(key, "")).is_success
    forced = http.post("/_emulator/webhooks/deliver")
    assert forced.status_code == 200 and forced.json()["delivered"] == 1
    receiver.wait_types("customer.created")


def test_index_page_points_somewhere_useful(emu: Emulator, http: httpx.Client) -> None:
    client = emu.client()
    prod = client.v1.products.create(params={"name": "Plan"}).id
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": flat_price(client, prod, 500), "quantity": 1}],
            "success_url": "http://127.0.0.1:9/ok",
        }
    )
    page = http.get("/")
    assert page.status_code == 200 and "development tool" in page.text
    assert f'href="/checkout/pay/{session.id}"' in page.text
    assert emu.account_id in page.text and emu.api_key not in page.text  # keys masked
    assert "not saved yet" in page.text
    saved = http.post("/_emulator/portal_configuration")
    assert saved.status_code == 303 and "saved" in http.get(saved.headers["location"]).text
    cus = client.v1.customers.create(params={}).id
    assert client.v1.billing_portal.sessions.create(params={"customer": cus}).url
