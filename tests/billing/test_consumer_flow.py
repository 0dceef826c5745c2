"""The paid subscription flow through the REST API: subscribe -> on_hold + Checkout URL,
pay, success redirect activates, portal (own only), invoices, upcoming, cancel."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import pytest
import stripe
from sqlalchemy import select

from stripe_emulator.testing import Emulator
from tests.support.rows import insert_usage, seed_world
from tests.support.waiting import wait_until
from tollway.store.billing_tables import billing_customers, billing_subscriptions

from .helpers import pay_checkout, store_keys

PAYG = {"flat_fee": "5.00", "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


# Stripe processes meter events asynchronously; these tests read usage back at once.
pytestmark = pytest.mark.usefixtures("immediate_meter_events")


def test_paid_subscription_through_the_api(
    ctx: Any,
    emu: Emulator,
    admin: Any,
    make_actor: Any,
    http: Any,
    stripe_client: stripe.StripeClient,
) -> None:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    consumer = make_actor("consumer")
    other = make_actor("consumer")
    apps = []
    for name in ("first", "second"):
        r = consumer.post("/api/v1/applications", json={"name": name})
        assert r.status_code == 201, r.text
        apps.append(r.json()["id"])
    r = consumer.post(
        "/api/v1/subscriptions",
        json={"application_id": apps[0], "api_id": w.api_id, "plan_id": w.plan_id},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["state"] == "on_hold" and sub["checkout_url"].startswith(emu.base_url)
    # one paid subscription per plan and API per account (Stripe meters bill per customer)
    r2 = consumer.post(
        "/api/v1/subscriptions",
        json={"application_id": apps[1], "api_id": w.api_id, "plan_id": w.plan_id},
    )
    assert r2.status_code == 409, r2.text
    cancelled = http.get(f"/billing/checkout/cancelled?subscription_id={sub['id']}")
    assert cancelled.status_code == 200 and "Nothing was charged" in cancelled.text
    paid = pay_checkout(sub["checkout_url"])
    assert paid.status_code == 303
    success = urlparse(paid.headers["location"])
    page = http.get(f"{success.path}?{success.query}")
    assert page.status_code == 200
    assert consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == "active"

    portal = consumer.post(f"/api/v1/subscriptions/{sub['id']}/portal")
    assert portal.status_code == 200 and portal.json()["url"].startswith(emu.base_url)
    assert other.post(f"/api/v1/subscriptions/{sub['id']}/portal").status_code == 404

    invoices = consumer.get("/api/v1/billing/invoices").json()["data"]
    assert len(invoices) == 1
    first = invoices[0]
    assert first["status"] == "paid" and first["total"] == "5.00" and first["link"]
    assert first["number"] and first["period_start"] and first["period_end"]
    assert other.get("/api/v1/billing/invoices").json()["data"] == []

    insert_usage(ctx.engine, w, sub["id"], [int(time.time() * 1000) + i for i in range(25)])

    assert not ctx.billing.usage.flush().errors
    up = consumer.get(f"/api/v1/billing/upcoming?subscription_id={sub['id']}")
    assert up.status_code == 200, up.text
    body = up.json()
    assert body["tollway_estimate"]["total"] == "5.50" and body["stripe"]["total"] == "5.50"
    assert body["agrees"] is True
    assert other.get(f"/api/v1/billing/upcoming?subscription_id={sub['id']}").status_code == 404

    with ctx.engine.connect() as conn:
        customers = conn.execute(select(billing_customers)).fetchall()
        stripe_sub = conn.execute(select(billing_subscriptions.c.stripe_subscription_id)).scalar()
    assert len(customers) == 1  # one Stripe customer per consumer account
    # usage not pushed yet is pushed before cancelling, and invoiced at once
    insert_usage(ctx.engine, w, sub["id"], [int(time.time() * 1000) + 100 + i for i in range(10)])
    with ctx.engine.connect() as conn:
        started = conn.execute(select(billing_subscriptions.c.current_period_start)).scalar()
    # Stripe invoices usage strictly before the cancellation second
    wait_until(lambda: time.time() >= started + 2, 5, "a second of subscription")
    r = consumer.post(f"/api/v1/subscriptions/{sub['id']}/cancel", json={})
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert stripe_client.v1.subscriptions.retrieve(stripe_sub).status == "canceled"
    invoices = consumer.get("/api/v1/billing/invoices").json()["data"]
    assert [i["total"] for i in invoices if i["id"] != first["id"]] == ["0.70"]
