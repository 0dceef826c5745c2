"""A trial, end to end (REST API, a real ``tollway gateway``, the emulator): "Trial
Pro", 7 days free then $10.00 a month + $0.02 a request. Checkout starts a Stripe trial
(``trial_period_days``); the subscription is active in Tollway at once; 3 calls during
the trial are metered and billed at $0.00. The invoice ending the trial is the first
month's fee, **$10.00** — Tollway's estimate, Stripe's preview and the charged invoice;
Stripe's trial end reaches Tollway as a webhook (``trialing`` → ``active``)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until
from tollway.store.billing_tables import billing_subscriptions

from .published import (
    advance,
    connect_stripe,
    metered,
    publish_api,
    publish_usage,
    subscribe_and_pay,
)

pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")

TRIAL = {
    "name": "Trial Pro",
    "currency": "USD",
    "billing_interval": "month",
    "trial_days": 7,
    "pricing": {
        "flat_fee": "10.00",
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"},
    },
}


def stripe_status(ctx: Any, sub_id: str) -> str | None:
    with ctx.engine.connect() as conn:
        found = conn.execute(
            select(billing_subscriptions.c.stripe_status).where(
                billing_subscriptions.c.subscription_id == sub_id
            )
        ).scalar()
    return None if found is None else str(found)


def test_trial_calls_metered_at_zero_then_billed(
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
    gw = gateway
    connect_stripe(admin, emu, stripe_client, served)
    pub = make_actor("publisher")
    r = pub.post("/api/v1/plans", json={**TRIAL, "name": "Too long", "trial_days": 731})
    assert r.status_code in (400, 422) and "trial_days" in r.text, r.text
    api_id, (plan,) = publish_api(pub, upstream, "books", [TRIAL])
    assert pub.get(f"/api/v1/plans/{plan}").json()["trial_days"] == 7
    t0 = int(time.time())
    c = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, t0)
    sub = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data[0]
    assert sub.status == "trialing" and sub.trial_end == t0 + 7 * 86_400
    wait_until(lambda: stripe_status(ctx, c.sub_id) == "trialing", 15, "the trial to be known")

    books, key = f"{gw}/books/v1/books", {"apikey": c.key}
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "the gateway")
    for _ in range(2):
        assert httpx.get(books, headers=key).status_code == 200
    wait_until(lambda: metered(ctx, c.sub_id) == 3, 30, "the calls to reach the ledger")

    publish_usage(admin)
    up = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth).json()
    assert up["tollway_estimate"]["total"] == "10.00"
    assert up["tollway_estimate"]["usage_quantity"] == 3
    assert up["stripe"]["total"] == "10.00" and up["agrees"] is True

    advance(stripe_client, c.clock, t0 + 7 * 86_400 + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    closing = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert closing and closing[0]["total"] == "10.00" and closing[0]["status"] == "paid"
    wait_until(lambda: stripe_status(ctx, c.sub_id) == "active", 15, "the trial's end webhook")
    state = http.get(f"/api/v1/subscriptions/{c.sub_id}", headers=c.auth).json()["state"]
    assert state == "active"
