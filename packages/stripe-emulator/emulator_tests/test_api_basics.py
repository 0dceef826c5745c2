"""Products, prices, errors, idempotency, pagination and keys through the official SDK."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe

from stripe_emulator.settings import API_VERSION
from stripe_emulator.testing import Emulator


def test_product_crud_and_shapes(client: stripe.StripeClient) -> None:
    p = client.v1.products.create(params={"name": "Weather API", "metadata": {"plan": "pro"}})
    assert p.id.startswith("prod_") and p.object == "product" and p.livemode is False
    assert p.metadata.to_dict() == {"plan": "pro"} and p.active is True
    p = client.v1.products.update(
        p.id, params={"description": "Forecasts", "metadata": {"plan": ""}}
    )
    assert p.description == "Forecasts" and p.metadata.to_dict() == {}
    assert client.v1.products.retrieve(p.id).name == "Weather API"
    deleted = client.v1.products.delete(p.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.products.retrieve(p.id)
    assert exc.value.http_status == 404 and exc.value.code == "resource_missing"
    assert exc.value.param == "id"


def test_prices_of_every_kind(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "API"})
    flat = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
        }
    )
    assert flat.id.startswith("price_") and flat.type == "recurring"
    assert flat.unit_amount_decimal == Decimal("2000") and flat.recurring.usage_type == "licensed"
    dec = client.v1.prices.create(
        params={"product": prod.id, "currency": "usd", "unit_amount_decimal": "0.25"}
    )
    assert (
        dec.unit_amount is None
        and dec.unit_amount_decimal == Decimal("0.25")
        and dec.type == "one_time"
    )
    pkg = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 2500,
            "transform_quantity": {"divide_by": 5, "round": "up"},
        }
    )
    assert pkg.transform_quantity.divide_by == 5 and pkg.transform_quantity.round == "up"
    tiered = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "recurring": {"interval": "month"},
            "tiers": [
                {"up_to": 5, "unit_amount": 700, "flat_amount": 100},
                {"up_to": "inf", "unit_amount_decimal": "650.5"},
            ],
        }
    )
    assert tiered.unit_amount is None and "tiers" not in tiered  # only with expand, like Stripe
    full = client.v1.prices.retrieve(tiered.id, params={"expand": ["tiers"]})
    assert [t.up_to for t in full.tiers] == [5, None]
    assert full.tiers[0].flat_amount == 100 and full.tiers[1].unit_amount_decimal == Decimal(
        "650.5"
    )
    found = client.v1.prices.list(
        params={"lookup_keys": ["pro_monthly"], "expand": ["data.product"]}
    )
    assert [p.id for p in found.data] == [flat.id] and found.data[0].product.name == "API"
    with pytest.raises(stripe.InvalidRequestError, match="already uses that lookup key"):
        client.v1.prices.create(
            params={
                "product": prod.id,
                "currency": "usd",
                "unit_amount": 1,
                "lookup_key": "pro_monthly",
            }
        )
    moved = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 1,
            "lookup_key": "pro_monthly",
            "transfer_lookup_key": True,
        }
    )
    assert client.v1.prices.retrieve(flat.id).lookup_key is None
    assert moved.lookup_key == "pro_monthly"
    off = client.v1.prices.update(flat.id, params={"active": False})
    assert off.active is False


def test_invalid_prices_are_refused(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "API"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create(
            params={
                "product": prod.id,
                "currency": "usd",
                "recurring": {"interval": "month", "usage_type": "metered"},
                "unit_amount": 1,
            }
        )
    assert exc.value.param == "recurring[meter]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create(
            params={
                "product": prod.id,
                "currency": "usd",
                "billing_scheme": "tiered",
                "tiers_mode": "volume",
                "tiers": [{"up_to": 5, "unit_amount": 1}],
            }
        )
    assert "inf" in str(exc.value.user_message)


def test_missing_and_unknown_parameters(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.products.create(params={})  # type: ignore[typeddict-item]
    assert exc.value.http_status == 400 and exc.value.code == "parameter_missing"
    assert exc.value.param == "name" and exc.value.user_message == "Missing required param: name."
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.products.create(params={"name": "x", "colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert exc.value.code == "parameter_unknown" and exc.value.param == "colour"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create(
            params={
                "product": "prod_x",
                "currency": "usd",
                "unit_amount": 1,
                "recurring": {"interval": "month", "bogus": 1},
            }
        )  # type: ignore[typeddict-unknown-key]
    assert exc.value.param == "recurring[bogus]"


def test_invalid_and_missing_api_keys(emu: Emulator) -> None:
    with pytest.raises(stripe.AuthenticationError) as exc:
        emu.client("sk_test_not_a_key_of_this_emulator").v1.products.list()
    assert exc.value.http_status == 401 and "Invalid API Key provided" in str(
        exc.value.user_message
    )
    assert "not_a_key" not in str(exc.value.user_message)  # masked like Stripe
    with pytest.raises(stripe.AuthenticationError):
        emu.client(emu.publishable_key).v1.products.list()


def test_account_of_the_key(emu: Emulator, client: stripe.StripeClient) -> None:
    account = client.v1.accounts.retrieve_current()
    assert account.id == emu.account_id and account.object == "account"
    assert account.charges_enabled is True


def test_restricted_key_permissions(emu: Emulator) -> None:
    key = emu.restricted_key(["rak_product_write", "rak_plan_read"])
    assert key.startswith("rk_test_")
    rk = emu.client(key)
    prod = rk.v1.products.create(params={"name": "ok"})
    assert rk.v1.prices.list().data == []
    with pytest.raises(stripe.PermissionError) as exc:
        rk.v1.prices.create(params={"product": prod.id, "currency": "usd", "unit_amount": 1})
    assert exc.value.http_status == 403
    assert exc.value.json_body["error"]["type"] == "invalid_request_error"
    assert "rak_plan_write" in str(exc.value.user_message)
    with pytest.raises(stripe.PermissionError):
        rk.v1.customers.list()


def test_idempotency_replay_and_conflict(client: stripe.StripeClient) -> None:
    first = client.v1.products.create(params={"name": "Once"}, options={"idempotency_key": "k-1"})
    again = client.v1.products.create(params={"name": "Once"}, options={"idempotency_key": "k-1"})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(client.v1.products.list().data) == 1
    with pytest.raises(stripe.IdempotencyError) as exc:
        client.v1.products.create(params={"name": "Other"}, options={"idempotency_key": "k-1"})
    assert exc.value.http_status == 400
    assert exc.value.json_body["error"]["type"] == "idempotency_error"
    # errors are replayed too
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.products.retrieve("prod_missing")


def test_rate_limit_setting(emu: Emulator, client: stripe.StripeClient) -> None:
    emu.rate_limit(2)
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError) as exc:
            client.v1.products.list()
        assert exc.value.http_status == 429
        assert exc.value.json_body["error"]["code"] == "rate_limit"
    assert client.v1.products.list().data == []
    emu.rate_limit(True)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.list()
    emu.rate_limit(0)
    client.v1.customers.list()


def test_pagination(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(7)]
    newest_first = list(reversed(ids))
    page1 = client.v1.customers.list(params={"limit": 3})
    assert [c.id for c in page1.data] == newest_first[:3] and page1.has_more is True
    page2 = client.v1.customers.list(params={"limit": 3, "starting_after": page1.data[-1].id})
    assert [c.id for c in page2.data] == newest_first[3:6] and page2.has_more is True
    page3 = client.v1.customers.list(params={"limit": 3, "starting_after": page2.data[-1].id})
    assert [c.id for c in page3.data] == newest_first[6:] and page3.has_more is False
    back = client.v1.customers.list(params={"limit": 2, "ending_before": page2.data[0].id})
    assert [c.id for c in back.data] == newest_first[1:3] and back.has_more is True
    assert [
        c.id for c in client.v1.customers.list(params={"limit": 2}).auto_paging_iter()
    ] == newest_first
    assert page1.url == "/v1/customers"


def test_api_version_and_request_ids(client: stripe.StripeClient) -> None:
    p = client.v1.products.create(params={"name": "v"})
    headers = p.last_response.headers
    assert headers["Stripe-Version"] == API_VERSION == stripe.api_version
    assert headers["Request-Id"].startswith("req_")


def test_unrecognized_url(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        client.raw_request("get", "/v1/not_a_resource")


def test_keys_of_another_account(emu: Emulator, client: stripe.StripeClient) -> None:
    other_sk = emu.add_key("secret", account="acct_1OtherAccount00")
    other_pk = emu.add_key("publishable", account="acct_1OtherAccount00")
    assert other_sk.startswith("sk_test_") and other_pk.startswith("pk_test_")
    assert emu.client(other_sk).v1.accounts.retrieve_current().id == "acct_1OtherAccount00"
    assert client.v1.accounts.retrieve_current().id == emu.account_id
    # a publishable key can create payment methods (as Stripe.js does), nothing else
    card = {"type": "card", "card": {"token": "tok_visa"}}
    mine = emu.client(emu.publishable_key).v1.payment_methods.create(params=card)  # type: ignore[arg-type]
    theirs = emu.client(other_pk).v1.payment_methods.create(params=card)  # type: ignore[arg-type]
    assert client.v1.payment_methods.retrieve(mine.id).card.last4 == "4242"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_methods.retrieve(theirs.id)
    assert exc.value.http_status == 404
    assert emu.client(other_sk).v1.payment_methods.retrieve(theirs.id).id == theirs.id
    with pytest.raises(stripe.AuthenticationError, match="publishable"):
        emu.client(other_pk).v1.customers.list()


def test_search(client: stripe.StripeClient) -> None:
    a = client.v1.products.create(params={"name": "Alpha plan", "metadata": {"tollway_plan": "p1"}})
    client.v1.products.create(params={"name": "Beta plan", "metadata": {"tollway_plan": "p2"}})
    found = client.v1.products.search(params={"query": "metadata['tollway_plan']:'p1'"})
    assert [p.id for p in found.data] == [a.id] and found.has_more is False
    both = client.v1.products.search(params={"query": "name~'plan' AND active:'true'"})
    assert len(both.data) == 2
    assert (
        client.v1.products.search(params={"query": "-metadata['tollway_plan']:'p1'"}).data[0].name
        == "Beta plan"
    )
    paged = client.v1.products.search(params={"query": "name~'plan'", "limit": 1})
    assert paged.has_more is True
    assert [p.id for p in paged.auto_paging_iter()][-1] == a.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.search(params={"query": "nonsense query here"})
