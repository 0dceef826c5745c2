"""A coupon on a hybrid plan, end to end (REST API, a real ``tollway gateway``, the
emulator): $20.00 a month + $0.10 a request; the publisher creates "15 % off forever"
with the promotion code LAUNCH15; the consumer redeems it on the live subscription and
makes 3 calls. Next invoice: $20.00 + $0.30 = $20.30, 15 % per line rounded half up
($3.00 + $0.045 → $0.05) = $3.05 off, **$17.25** — Tollway's estimate, Stripe's preview
and the invoice charged when the period closes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until

from .published import (
    HYBRID,
    advance,
    connect_stripe,
    metered,
    publish_api,
    publish_usage,
    subscribe_and_pay,
)

pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")


def test_coupon_on_a_hybrid_plan(
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
    api_id, (plan,) = publish_api(pub, upstream, "books", [HYBRID])
    body = {
        "name": "Launch",
        "coupon": {"duration": "forever", "percent_off": "15"},
        "promotion_code": "LAUNCH15",
    }
    r = pub.post("/api/v1/coupons", json=body)
    assert r.status_code == 201, r.text
    assert pub.post("/api/v1/coupons", json=body).status_code == 409  # the code is taken
    bad = {**body, "coupon": {"duration": "forever", "percent_off": "150"}, "promotion_code": None}
    r = pub.post("/api/v1/coupons", json=bad)
    assert r.status_code in (400, 422) and "percent_off" in r.text, r.text
    assert [c.percent_off for c in stripe_client.v1.coupons.list().data] == [15]

    c = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, int(time.time()))
    r = http.post(
        f"/api/v1/subscriptions/{c.sub_id}/coupon",
        json={"promotion_code": "nope"},
        headers=c.auth,
    )
    assert r.status_code == 404, r.text
    r = http.post(
        f"/api/v1/subscriptions/{c.sub_id}/coupon",
        json={"promotion_code": "launch15"},
        headers=c.auth,
    )
    assert r.status_code == 200 and r.json()["coupon"]["name"] == "Launch", r.text
    r = pub.post(f"/api/v1/subscriptions/{c.sub_id}/coupon", json={"promotion_code": "LAUNCH15"})
    assert r.status_code == 404, r.text  # not the publisher's subscription

    books, key = f"{gw}/books/v1/books", {"apikey": c.key}
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "the gateway")
    for _ in range(2):
        assert httpx.get(books, headers=key).status_code == 200
    wait_until(lambda: metered(ctx, c.sub_id) == 3, 30, "the calls to reach the ledger")

    publish_usage(admin)
    up = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth).json()
    ours = up["tollway_estimate"]
    assert (ours["subtotal"], ours["discount"], ours["total"]) == ("20.30", "3.05", "17.25")
    assert up["stripe"]["total"] == "17.25" and up["agrees"] is True

    item = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data[0]
    advance(stripe_client, c.clock, item["items"].data[0].current_period_end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    closing = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert closing and closing[0]["total"] == "17.25" and closing[0]["status"] == "paid"
