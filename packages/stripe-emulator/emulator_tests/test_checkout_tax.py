"""Automatic tax in Checkout for an existing customer: Stripe needs an address it can
tax, so without one the address entered in Checkout must be saved to the customer
(``customer_update[address]=auto``); it then taxes the subscription's invoices."""

from __future__ import annotations

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator

from .conftest import card_customer, flat_price


def _session(client: stripe.StripeClient, customer: str, price: str, **extra: object) -> object:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "https://example.com/ok",
            "automatic_tax": {"enabled": True},
            **extra,  # type: ignore[typeddict-item]
        }
    )


def test_existing_customer_needs_an_address_or_customer_update(
    emu: Emulator, client: stripe.StripeClient, http: httpx.Client
) -> None:
    emu.configure(tax_rates={"DE": 19})
    price = flat_price(client, client.v1.products.create(params={"name": "Pro"}).id, 1000)
    bare = client.v1.customers.create(params={"email": "a@example.com"}).id
    with pytest.raises(stripe.InvalidRequestError) as exc:
        _session(client, bare, price)
    assert exc.value.param == "automatic_tax[enabled]"
    assert "customer_update[address]" in str(exc.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as bad:
        _session(client, bare, price, billing_address_collection="sometimes")
    assert bad.value.param == "billing_address_collection"

    session = _session(
        client,
        bare,
        price,
        billing_address_collection="required",
        tax_id_collection={"enabled": True},
        customer_update={"address": "auto", "name": "auto"},
    )
    assert session.automatic_tax.enabled and session.billing_address_collection == "required"
    assert session.tax_id_collection and session.tax_id_collection.enabled
    form = {"email": "a@example.com", "card_number": "4242424242424242", "expiry": "12/34",
            "cvc": "123", "country": "DE", "tax_id": "DE123456789"}  # fmt: skip
    assert http.post(str(session.url), data=form).status_code == 303
    customer = client.v1.customers.retrieve(bare)
    assert customer.address is not None and customer.address.country == "DE"
    done = client.v1.checkout.sessions.retrieve(session.id)
    sub = client.v1.subscriptions.retrieve(str(done.subscription))
    assert sub.automatic_tax.enabled
    invoice = client.v1.invoices.retrieve(str(done.invoice))
    assert (invoice.total_excluding_tax, invoice.total) == (1000, 1190)
    assert invoice.total_taxes and invoice.total_taxes[0].amount == 190


def test_without_customer_update_the_address_is_not_saved(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    price = flat_price(client, client.v1.products.create(params={"name": "Pro"}).id, 1000)
    known = client.v1.customers.create(params={"address": {"country": "US"}}).id
    session = _session(client, known, price)  # the customer's own address is taxed
    form = {"email": "a@example.com", "card_number": "4242424242424242", "expiry": "12/34",
            "cvc": "123", "country": "FR"}  # fmt: skip
    assert http.post(str(session.url), data=form).status_code == 303
    address = client.v1.customers.retrieve(known).address
    assert address is not None and address.country == "US"


def test_update_turns_automatic_tax_on_only_for_a_located_customer(
    client: stripe.StripeClient,
) -> None:
    price = flat_price(client, client.v1.products.create(params={"name": "Pro"}).id, 1000)
    other = flat_price(client, client.v1.products.create(params={"name": "Max"}).id, 2000)
    subs = [
        client.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price}]})
        for cus in (card_customer(client), card_customer(client, address={"country": "DE"}))
    ]
    bare, located = subs
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(bare.id, params={"automatic_tax": {"enabled": True}})
    assert exc.value.code == "customer_tax_location_invalid"
    assert not client.v1.subscriptions.retrieve(bare.id).automatic_tax.enabled
    done = client.v1.subscriptions.update(located.id, params={"automatic_tax": {"enabled": True}})
    assert done.automatic_tax.enabled

    schedule = client.v1.subscription_schedules.create(params={"from_subscription": bare.id})
    first = schedule.phases[0]
    updated = client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "phases": [
                {
                    "items": [{"price": price}],
                    "start_date": first.start_date,
                    "end_date": first.end_date,
                },
                {
                    "items": [{"price": other}],
                    "duration": {"interval": "month"},
                    "automatic_tax": {"enabled": True},
                },
            ]  # fmt: skip
        },
    )
    assert updated.phases[1].automatic_tax and updated.phases[1].automatic_tax.enabled
