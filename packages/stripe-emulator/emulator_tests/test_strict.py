"""Stripe's documented behaviour where an emulator is tempted to be kinder, through the
official SDK: validation, idempotency, API versions, keys, Connect, rate limits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from stripe_emulator import API_VERSION, Emulator, running_emulator
from stripe_emulator.schema_gen import SCHEMA_FILE, emulator_routes, generate, render

from .conftest import card_customer, flat_price

METER: stripe.params.billing.MeterCreateParams = {
    "display_name": "Calls",
    "event_name": "calls",
    "default_aggregation": {"formula": "sum"},
}


def test_parameter_rules_are_generated_from_the_installed_sdk() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(generate(emulator_routes())), (
        "schema.json is stale: run python -m stripe_emulator.schema_gen"
    )


def test_unknown_nested_key_is_named_in_full(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(params={})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.invoices.create_preview(
            params={"customer": cus.id, "subscription_details": {"bogus": 1}}  # type: ignore[typeddict-unknown-key]
        )
    assert exc.value.http_status == 400 and exc.value.code == "parameter_unknown"
    assert exc.value.param == "subscription_details[bogus]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(
            params={"mode": "subscription", "line_items": [{"price": "p", "colour": "red"}]}  # type: ignore[typeddict-unknown-key]
        )
    assert exc.value.param == "line_items[0][colour]"


def test_parameters_removed_in_the_pinned_version_are_refused(
    client: stripe.StripeClient,
) -> None:
    prod = client.v1.products.create(params={"name": "API"})
    with pytest.raises(stripe.InvalidRequestError) as exc:  # removed in 2025-03-31.basil
        client.v1.prices.create(
            params={
                "product": prod.id,
                "currency": "usd",
                "unit_amount": 1,
                "recurring": {"interval": "month", "aggregate_usage": "sum"},  # type: ignore[typeddict-unknown-key]
            }
        )
    assert exc.value.code == "parameter_unknown" and exc.value.param == "recurring[aggregate_usage]"


def test_enums_types_currencies_and_interval_ranges(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "API"})

    def price(**params: object) -> None:
        client.v1.prices.create(params={"product": prod.id, "unit_amount": 1, **params})  # type: ignore[typeddict-item]

    with pytest.raises(stripe.InvalidRequestError) as exc:
        price(currency="usd", recurring={"interval": "fortnight"})
    assert exc.value.param == "recurring[interval]" and "must be one of" in str(exc.value)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        price(currency="xyz")
    assert exc.value.param == "currency" and "Invalid currency: xyz" in str(exc.value)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        price(currency="usd", recurring={"interval": "month", "interval_count": 37})
    assert exc.value.param == "recurring[interval_count]"
    price(currency="usd", recurring={"interval": "month", "interval_count": 36})
    price(currency="usd", recurring={"interval": "week", "interval_count": 156})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.raw_request("post", "/v1/prices", product=prod.id, currency="usd", unit_amount="1.5")
    assert exc.value.code == "parameter_invalid_integer" and exc.value.param == "unit_amount"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.raw_request("post", "/v1/products", name="")
    assert exc.value.param == "name" and "empty string" in str(exc.value)


def test_meter_event_lengths_and_whole_number_values(client: stripe.StripeClient) -> None:
    client.v1.billing.meters.create(params=METER)
    cus = client.v1.customers.create(params={})

    def send(**params: object) -> None:
        payload = {"stripe_customer_id": cus.id, "value": "1"}
        client.v1.billing.meter_events.create(
            params={"event_name": "calls", "payload": payload, **params}  # type: ignore[typeddict-item]
        )

    with pytest.raises(stripe.InvalidRequestError) as exc:
        send(identifier="x" * 101)
    assert exc.value.param == "identifier"
    send(identifier="x" * 100)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        payload = {"stripe_customer_id": cus.id, "value": "2.5"}
        client.v1.billing.meter_events.create(params={"event_name": "calls", "payload": payload})
    assert exc.value.param == "payload[value]" and "whole numbers" in str(exc.value)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        send(event_name="e" * 101)
    assert exc.value.param == "event_name"


def test_idempotency_as_documented(emu: Emulator, client: stripe.StripeClient) -> None:
    # a request refused by validation saves nothing: the same key then succeeds
    with pytest.raises(stripe.InvalidRequestError):
        client.raw_request("post", "/v1/products", name="x", colour="red", idempotency_key="k-val")
    made = client.v1.products.create(params={"name": "x"}, options={"idempotency_key": "k-val"})
    assert made.last_response.headers.get("Idempotent-Replayed") is None
    # a 500 is saved and replayed
    emu.fail_requests(1)
    for replayed in (None, "true"):
        with pytest.raises(stripe.APIError) as exc:
            client.v1.products.create(params={"name": "y"}, options={"idempotency_key": "k-500"})
        assert exc.value.http_status == 500
        assert (exc.value.headers or {}).get("Idempotent-Replayed") == replayed
    # keys expire after 24 hours
    first = client.v1.products.create(params={"name": "z"}, options={"idempotency_key": "k-24"})
    emu.advance_time(24 * 3600 - 60)
    again = client.v1.products.create(params={"name": "z"}, options={"idempotency_key": "k-24"})
    assert again.id == first.id
    emu.advance_time(120)
    fresh = client.v1.products.create(params={"name": "z"}, options={"idempotency_key": "k-24"})
    assert fresh.id != first.id
    # keys longer than 255 characters are refused
    with pytest.raises(stripe.InvalidRequestError, match="at most 255"):
        client.v1.products.create(params={"name": "w"}, options={"idempotency_key": "k" * 256})
    client.v1.products.create(params={"name": "w"}, options={"idempotency_key": "k" * 255})


def test_stripe_version_header(emu: Emulator) -> None:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    with httpx.Client(base_url=emu.base_url, trust_env=False) as http:
        ok = http.get("/v1/products", headers={**headers, "Stripe-Version": API_VERSION})
        assert ok.status_code == 200 and ok.headers["Stripe-Version"] == API_VERSION
        old = http.get("/v1/products", headers={**headers, "Stripe-Version": "2024-06-20"})
        assert old.status_code == 400 and API_VERSION in old.json()["error"]["message"]
        bad = http.get("/v1/products", headers={**headers, "Stripe-Version": "latest-ish"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == "Invalid Stripe API version: latest-ish"
    old_client = stripe.StripeClient(
        emu.api_key, base_addresses={"api": emu.base_url}, stripe_version="2025-03-31.basil"
    )
    with pytest.raises(stripe.InvalidRequestError, match="not served by this emulator"):
        old_client.v1.customers.list()


def test_objects_have_the_shape_of_the_pinned_version(client: stripe.StripeClient) -> None:
    """Top-level fields are the SDK's (generated for the pinned version): no leftovers
    such as an invoice's `subscription`, which endive moved to parent.subscription_details."""
    prod = client.v1.products.create(params={"name": "Shapes"})
    fee = flat_price(client, prod.id, 500)
    cus = card_customer(client)
    sub = client.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": fee}]})
    inv = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert "subscription" not in inv
    assert inv.parent is not None and inv.parent.subscription_details is not None
    assert inv.parent.subscription_details.subscription == sub.id
    for obj, cls in (
        (prod, stripe.Product),
        (client.v1.prices.retrieve(fee), stripe.Price),
        (cus, stripe.Customer),
        (sub, stripe.Subscription),
        (sub.items.data[0], stripe.SubscriptionItem),
        (inv, stripe.Invoice),
        (inv.lines.data[0], stripe.InvoiceLineItem),
    ):
        fields = set(typing_fields(cls))
        extra = set(obj.to_dict()) - fields - {"id", "object"}
        assert not extra, f"{cls.__name__} has fields the pinned version does not: {extra}"


def typing_fields(cls: type) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__:
        names += list(getattr(klass, "__annotations__", {}))
    return names


def test_restricted_keys_use_stripes_permission_names(emu: Emulator) -> None:
    cus = emu.client().v1.customers.create(params={})
    cases = [
        ("post", "/v1/prices", {}, "rak_plan_write"),
        ("get", "/v1/prices", {}, "rak_plan_read"),
        ("post", "/v1/billing_portal/sessions", {"customer": cus.id}, "rak_customer_portal_write"),
        ("post", "/v1/invoices/create_preview", {"customer": cus.id}, "rak_invoice_write"),
        ("post", "/v1/billing/meters", {}, "rak_billing_meter_write"),
        ("post", "/v1/billing/meter_events", {}, "rak_billing_meter_event_write"),
        ("get", "/v1/events", {}, "rak_event_read"),
        ("post", "/v1/webhook_endpoints", {}, "rak_webhook_write"),
    ]
    empty = emu.client(emu.restricted_key(["rak_account_read"]))
    for method, path, params, permission in cases:
        with pytest.raises(stripe.PermissionError) as exc:
            empty.raw_request(method, path, **params)
        assert exc.value.http_status == 403
        assert f"Having the '{permission}' permission" in str(exc.value.user_message), path
    # write implies read; read does not imply write
    reader = emu.client(emu.restricted_key(["rak_invoice_read"]))
    assert reader.v1.invoices.list().data == []
    with pytest.raises(stripe.PermissionError):
        reader.v1.invoices.create_preview(params={"customer": cus.id})


def test_publishable_key_as_a_secret_key(emu: Emulator) -> None:
    with pytest.raises(stripe.AuthenticationError) as exc:
        emu.client(emu.publishable_key).v1.customers.list()
    assert exc.value.http_status == 401
    assert str(exc.value.user_message).startswith(
        "This API call cannot be made with a publishable API key. Please use a secret API key."
    )


def test_portal_sessions_fail_until_a_portal_configuration_exists(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    cus = client.v1.customers.create(params={})
    with pytest.raises(stripe.InvalidRequestError, match="default configuration has not been"):
        client.v1.billing_portal.sessions.create(params={"customer": cus.id})
    own = client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}
    )
    assert own.is_default is False
    session = client.v1.billing_portal.sessions.create(
        params={"customer": cus.id, "configuration": own.id}
    )
    assert session.configuration == own.id
    default = emu.save_portal_settings()
    assert client.v1.billing_portal.sessions.create(params={"customer": cus.id}).configuration == (
        default
    )


def test_stripe_account_header_is_refused(emu: Emulator) -> None:
    connect = stripe.StripeClient(
        emu.api_key, base_addresses={"api": emu.base_url}, stripe_account="acct_1Connected"
    )
    with pytest.raises(stripe.PermissionError) as exc:
        connect.v1.customers.list()
    assert exc.value.http_status == 403 and "does not emulate Connect" in str(exc.value)


@pytest.fixture
def limited() -> Iterator[Emulator]:
    """An emulator with Stripe's sandbox limit (25 reads and 25 writes a second)."""
    with running_emulator() as emu:
        yield emu


def test_sandbox_rate_limit_counts_meter_events(limited: Emulator) -> None:
    client = limited.client()
    limited.freeze_time()  # one second of emulator time lasts as long as the test needs
    cus = client.v1.customers.create(params={})
    client.v1.billing.meters.create(params=METER)
    accepted = 0
    with pytest.raises(stripe.RateLimitError) as exc:
        for i in range(30):
            client.v1.billing.meter_events.create(
                params={
                    "event_name": "calls",
                    "identifier": f"e{i}",
                    "payload": {"stripe_customer_id": cus.id, "value": "1"},
                }
            )
            accepted += 1
    assert exc.value.http_status == 429
    assert (exc.value.json_body or {})["error"]["code"] == "rate_limit"
    assert accepted == 23  # two of the 25 writes went to the customer and the meter
    limited.advance_time(1.5)  # the window slides
    client.v1.customers.list()  # reads have their own budget
    client.v1.billing.meter_events.create(
        params={"event_name": "calls", "payload": {"stripe_customer_id": cus.id, "value": "1"}}
    )
