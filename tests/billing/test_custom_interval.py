"""A custom interval, end to end (REST API, a real ``tollway gateway``, the emulator):
"every 2 weeks", $7.00 + $0.05 a request. Stripe's period is 14 days
(``interval=week``, ``interval_count=2``); 3 calls: estimate == Stripe's preview == the
invoice that closes the period, $7.15 ($0.15 of usage and the next fortnight's fee)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until

from .published import (
    advance,
    connect_stripe,
    metered,
    publish_api,
    publish_usage,
    subscribe_and_pay,
)

pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")

FORTNIGHTLY = {
    "name": "Fortnightly",
    "currency": "USD",
    "billing_interval": "week",
    "billing_interval_count": 2,
    "pricing": {
        "flat_fee": "7.00",
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.05"},
    },
}


def test_every_two_weeks(
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
    too_long = {**FORTNIGHTLY, "name": "Too long", "billing_interval_count": 157}
    r = pub.post("/api/v1/plans", json=too_long)
    assert r.status_code in (400, 422), r.text
    assert "billing_interval_count" in r.text  # 156 weeks is Stripe's three years
    api_id, (plan,) = publish_api(pub, upstream, "books", [FORTNIGHTLY])
    assert pub.get(f"/api/v1/plans/{plan}").json()["billing_interval_count"] == 2
    price = stripe_client.v1.prices.list().data[0]
    assert price.recurring is not None
    assert (price.recurring.interval, price.recurring.interval_count) == ("week", 2)

    c = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, int(time.time()))
    books, key = f"{gw}/books/v1/books", {"apikey": c.key}
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "the gateway")
    for _ in range(2):
        assert httpx.get(books, headers=key).status_code == 200
    wait_until(lambda: metered(ctx, c.sub_id) == 3, 30, "the calls to reach the ledger")

    publish_usage(admin)
    up = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth).json()
    item = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data[0]
    start, end = (
        item["items"].data[0].current_period_start,
        item["items"].data[0].current_period_end,
    )
    assert end - start == 14 * 86_400
    assert up["tollway_estimate"]["total"] == "7.15"
    assert up["stripe"]["total"] == "7.15" and up["agrees"] is True

    advance(stripe_client, c.clock, end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    closing = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert closing and closing[0]["total"] == "7.15" and closing[0]["status"] == "paid"
