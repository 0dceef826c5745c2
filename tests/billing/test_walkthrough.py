"""The seeds' walkthrough, end to end: REST API, a real gateway process and the Stripe
emulator (over the SDK). Import a Reading List API, deploy, create "Pay-as-you-go"
($0.02 per request, 1000 requests per minute, monthly, USD), enable, publish, sign up a
consumer, subscribe, pay in Checkout with 4242…, get keys and a token, call the API,
check usage and estimated cost, close the period on the test clock, find the invoice,
cancel, and be refused."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from stripe_emulator.testing import Emulator
from tests.support.rows import World
from tests.support.waiting import wait_until
from tollway.store.tables import usage_events

from .helpers import customer_with_clock, pay_checkout
from .published import connect_stripe

READING_LIST = """
openapi: 3.0.3
info: {title: Reading List, version: "1.0"}
paths:
  /books:
    get:
      operationId: listBooks
      responses: {"200": {description: the books}}
  /books/{id}:
    get:
      operationId: getBook
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: a book}}
"""


# Stripe's processing lag is on (meter events counted 1 s after they are accepted,
# renewal invoices finalized an hour of clock time after the period ends): the test
# waits for Stripe to agree and advances the test clock past the finalization grace.
pytestmark = pytest.mark.usefixtures("realistic_delays")


def test_walkthrough(
    ctx: Any,
    emu: Emulator,
    served: str,
    admin: Any,
    make_actor: Any,
    http: Any,
    upstream: str,
    gateway: str,
    stripe_client: stripe.StripeClient,
) -> None:
    # Connect billing: the admin stores the keys and the webhook signing secret.
    connect_stripe(admin, emu, stripe_client, served)

    # Publish: import, deploy, plan, enable (provisions Stripe), publish.
    pub = make_actor("publisher")
    r = pub.post(
        "/api/v1/apis/import",
        params={"context": "reading-list", "version": "v1"},
        files={"file": ("reading-list.yaml", READING_LIST)},
    )
    assert r.status_code == 201, r.text
    api_id = r.json()["api"]["id"] if "api" in r.json() else r.json()["id"]
    for env_name in ("development", "production"):
        r = pub.put(
            f"/api/v1/apis/{api_id}/deployments/{env_name}", json={"upstream_url": upstream}
        )
        assert r.status_code == 200, r.text
    r = pub.post(
        "/api/v1/plans",
        json={
            "name": "Pay-as-you-go",
            "currency": "USD",
            "billing_interval": "month",
            "rate_limit": {"count": 1000, "per": "minute"},
            "pricing": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}},
        },
    )
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    r = pub.put(f"/api/v1/apis/{api_id}/plans/{plan_id}", json={"enabled": True})
    assert r.status_code == 200, r.text
    assert len(stripe_client.v1.prices.list().data) == 1  # provisioned on enabling
    r = pub.post(f"/api/v1/apis/{api_id}/lifecycle", json={"state": "published"})
    assert r.status_code == 200, r.text

    # Sign up a consumer and subscribe; pay in Checkout (customer on a test clock).
    r = http.post(
        "/api/v1/auth/signup",
        json={"email": "reader@example.com", "name": "Reader", "password": "correct horse battery"},
    )
    assert r.status_code == 201, r.text
    http.cookies.clear()
    token, consumer_id = r.json()["token"], r.json()["user"]["id"]
    auth = {"Authorization": f"Bearer {token}"}
    w = World(
        org_id="",
        admin_id=admin.id,
        consumer_id=consumer_id,
        api_id=api_id,
        plan_id=plan_id,
        app_id="",
    )
    clock, customer = customer_with_clock(stripe_client, ctx.engine, w, int(time.time()))
    r = http.post("/api/v1/applications", json={"name": "reader-app"}, headers=auth)
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    r = http.post(
        "/api/v1/subscriptions",
        headers=auth,
        json={"application_id": app_id, "api_id": api_id, "plan_id": plan_id},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["state"] == "on_hold" and sub["checkout_url"]
    paid = pay_checkout(sub["checkout_url"], "4242424242424242")
    assert paid.status_code == 303
    success = paid.headers["location"]
    assert urlparse(success).path == "/billing/checkout/success"
    assert httpx.get(success).status_code == 200
    state = http.get(f"/api/v1/subscriptions/{sub['id']}", headers=auth).json()["state"]
    assert state == "active"

    # Keys and a token.
    r = http.post(f"/api/v1/applications/{app_id}/keys", headers=auth, json={})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    r = http.post(f"/api/v1/applications/{app_id}/oauth-clients", headers=auth, json={})
    assert r.status_code == 201, r.text
    client = r.json()
    r = http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert r.status_code == 200, r.text
    bearer = r.json()["access_token"]

    # Call the API through the gateway.
    books = f"{gateway}/reading-list/v1/books"
    wait_until(
        lambda: httpx.get(books, headers={"apikey": key}).status_code == 200,
        15,
        "the gateway to know the subscription",
    )
    calls = 1
    for _ in range(6):
        assert httpx.get(books, headers={"apikey": key}).status_code == 200
        calls += 1
    for _ in range(3):
        assert httpx.get(books, headers={"Authorization": f"Bearer {bearer}"}).status_code == 200
        calls += 1
    assert httpx.get(books).status_code == 401

    def metered() -> bool:
        with ctx.engine.connect() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(usage_events)
                .where(usage_events.c.subscription_id == sub["id"], usage_events.c.status == 200)
            ).scalar()
        return bool(n == calls)

    wait_until(metered, 30, "the usage to reach the ledger")

    # Usage and estimated cost: calls x $0.02, from Tollway and from Stripe's preview.
    r = admin.post("/api/v1/monetization/publish-usage")
    assert r.status_code == 202
    wait_until(
        lambda: (
            admin.get("/api/v1/monetization/publish-usage/status").json()["state"] == "succeeded"
        ),
        30,
        "publish usage",
    )

    def upcoming() -> dict[str, Any] | None:
        got: dict[str, Any] = http.get(
            f"/api/v1/billing/upcoming?subscription_id={sub['id']}", headers=auth
        ).json()
        return got if got["agrees"] is not None else None  # None: Stripe still counting

    up = wait_until(upcoming, 30, "Stripe to count the usage")
    expected = str((Decimal("0.02") * calls).quantize(Decimal("0.01")))
    assert up["tollway_estimate"]["usage_quantity"] == calls
    assert up["tollway_estimate"]["total"] == expected
    assert up["stripe"]["total"] == expected and up["agrees"] is True

    # Close the period on the test clock: the invoice carries calls x $0.02.
    period_end = (
        stripe_client.v1.subscriptions.list(params={"customer": customer})
        .data[0]["items"]
        .data[0]
        .current_period_end
    )
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock, params={"frozen_time": period_end + 60}
    )
    invoices = http.get("/api/v1/billing/invoices", headers=auth).json()["data"]
    closing = [i for i in invoices if i["total_minor"] == calls * 2]
    assert closing and closing[0]["status"] == "draft", invoices  # Stripe's hour of grace
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock, params={"frozen_time": period_end + 3600 + 60}
    )
    invoices = http.get("/api/v1/billing/invoices", headers=auth).json()["data"]
    closing = [i for i in invoices if i["total_minor"] == calls * 2]
    assert closing and closing[0]["status"] == "paid", invoices

    # Cancel; the gateway refuses from then on.
    r = http.post(f"/api/v1/subscriptions/{sub['id']}/cancel", headers=auth, json={})
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    wait_until(
        lambda: httpx.get(books, headers={"apikey": key}).status_code == 403,
        15,
        "the gateway to refuse the cancelled subscription",
    )
