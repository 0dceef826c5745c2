"""Changing plan mid-period, end to end: REST API, a real ``tollway gateway`` and the
Stripe emulator over the SDK.

Basic ($10.00 a month + $0.02 a request, 5 calls an hour) and Pro ($30.00 a month +
$0.01 a request, 1000 calls an hour). The consumer subscribes to Basic on a Stripe test
clock started ten days ago, calls five times (the sixth is refused by Basic's rate
limit), previews the upgrade (Tollway's computation next to Stripe's create_preview),
upgrades, calls seven more times on Pro (the gateway admits them from the change on),
and the invoice that closes the period equals Tollway's estimate to the cent:
Basic's usage before the change, the fee prorations by exact time, Pro's usage after
it and Pro's fee for the next period.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until

from .published import (
    PinnableClock,
    advance,
    connect_stripe,
    metered,
    past,
    publish_api,
    publish_usage,
    subscribe_and_pay,
)

pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")

DAY = 86_400
CENT = Decimal("0.01")
BASIC = {
    "name": "Basic",
    "currency": "USD",
    "billing_interval": "month",
    "rate_limit": {"count": 5, "per": "hour"},
    "pricing": {
        "flat_fee": "10.00",
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"},
    },
}
PRO = {
    **BASIC,
    "name": "Pro",
    "rate_limit": {"count": 1000, "per": "hour"},
    "pricing": {
        "flat_fee": "30.00",
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"},
    },
}


@pytest.fixture
def clock() -> PinnableClock:
    return PinnableClock()


@pytest.fixture
def ctx(settings: Any, clock: PinnableClock) -> Iterator[Any]:
    from tollway.runtime import build_context

    context = build_context(settings, migrate=False, clock=clock)
    yield context
    context.engine.dispose()


def prorated(fee: str, start: int, end: int, at: int) -> Decimal:
    return (Decimal(fee) * (end - at) / (end - start)).quantize(CENT, ROUND_HALF_UP)


def test_mid_period_upgrade_invoice_equals_estimate(
    ctx: Any,
    clock: PinnableClock,
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
    api_id, (basic, pro) = publish_api(pub, upstream, "books", [BASIC, PRO])
    t0 = int(time.time()) - 10 * DAY
    c = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, basic, t0)
    item = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data[0]
    start, end = (
        item["items"].data[0].current_period_start,
        item["items"].data[0].current_period_end,
    )
    assert start == t0
    advance(stripe_client, c.clock, int(time.time()))  # ten days into the period

    # Five calls on Basic; the sixth is over Basic's rate limit.
    books = f"{gw}/books/v1/books"
    key = {"apikey": c.key}
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "the gateway")
    for _ in range(4):
        assert httpx.get(books, headers=key).status_code == 200
    assert httpx.get(books, headers=key).status_code == 429
    wait_until(lambda: metered(ctx, c.sub_id) == 5, 30, "the calls to reach the ledger")

    # The change happens at `at`, on Tollway's clock and on Stripe's test clock alike.
    at = int(time.time()) + 1
    wait_until(lambda: past(at), 5, "the change moment")
    advance(stripe_client, c.clock, at)
    clock.pin(at)
    body = {"plan_id": pro}
    r = http.post(
        f"/api/v1/subscriptions/{c.sub_id}/plan-change/preview", json=body, headers=c.auth
    )
    assert r.status_code == 200, r.text
    preview = r.json()
    credit, charge = prorated("10.00", start, end, at), prorated("30.00", start, end, at)
    pending = Decimal("0.10") - credit + charge  # 5 x $0.02 on Basic, then the prorations
    assert Decimal(preview["tollway"]["total"]) == pending + Decimal("30.00")
    assert preview["stripe"]["total"] == preview["tollway"]["total"]
    assert preview["agrees"] is True
    r = http.post(f"/api/v1/subscriptions/{c.sub_id}/plan-change", json=body, headers=c.auth)
    assert r.status_code == 200, r.text
    assert r.json()["effective_at"] == at and r.json()["state"] == "applied"
    clock.pin(None)
    sub = http.get(f"/api/v1/subscriptions/{c.sub_id}", headers=c.auth).json()
    assert sub["plan_id"] == pro
    again = http.post(f"/api/v1/subscriptions/{c.sub_id}/plan-change", json=body, headers=c.auth)
    assert again.status_code == 409, again.text  # already on Pro
    other = pub.post(f"/api/v1/subscriptions/{c.sub_id}/plan-change", json={"plan_id": basic})
    assert other.status_code == 404, other.text  # not the publisher's subscription
    unknown = {"plan_id": "plan_nope"}
    r = http.post(f"/api/v1/subscriptions/{c.sub_id}/plan-change", json=unknown, headers=c.auth)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"

    # Pro's rate limit from the change on: seven more calls.
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "Pro's limits")
    for _ in range(6):
        assert httpx.get(books, headers=key).status_code == 200
    wait_until(lambda: metered(ctx, c.sub_id) == 12, 30, "the calls to reach the ledger")

    # The next invoice: Tollway's estimate and Stripe's preview agree to the cent.
    publish_usage(admin)
    up = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth).json()
    expected = pending + Decimal("0.07") + Decimal("30.00")  # 7 x $0.01 on Pro, Pro's next fee
    assert Decimal(up["tollway_estimate"]["total"]) == expected
    assert up["stripe"]["total"] == up["tollway_estimate"]["total"] and up["agrees"] is True

    # Close the period: the invoice Stripe charges is the estimate.
    advance(stripe_client, c.clock, end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    closing = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert closing and closing[0]["total"] == str(expected), invoices
    assert closing[0]["status"] == "paid"

    r = http.get(f"/api/v1/subscriptions/{c.sub_id}/plan-changes", headers=c.auth)
    assert [(x["from_plan_id"], x["to_plan_id"]) for x in r.json()] == [(basic, pro)]


def test_downgrade_at_period_end_invoice_equals_estimate(
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
    """Pro to Basic at the period end: the period is billed on Pro (3 calls x $0.01), the
    next one's fee is Basic's ($10.00): $10.03, estimate == Stripe's preview == the
    invoice; the subscription (and the gateway) moves to Basic at the renewal, not before."""
    gw = gateway
    connect_stripe(admin, emu, stripe_client, served)
    api_id, (basic, pro) = publish_api(make_actor("publisher"), upstream, "books", [BASIC, PRO])
    c = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, pro, int(time.time()) - DAY)
    advance(stripe_client, c.clock, int(time.time()))
    books, key = f"{gw}/books/v1/books", {"apikey": c.key}
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "the gateway")
    for _ in range(2):
        assert httpx.get(books, headers=key).status_code == 200
    wait_until(lambda: metered(ctx, c.sub_id) == 3, 30, "the calls to reach the ledger")

    body = {"plan_id": basic, "when": "period_end"}
    r = http.post(f"/api/v1/subscriptions/{c.sub_id}/plan-change", json=body, headers=c.auth)
    assert r.status_code == 200, r.text
    change = r.json()
    assert change["state"] == "scheduled" and change["timing"] == "period_end"
    sub = http.get(f"/api/v1/subscriptions/{c.sub_id}", headers=c.auth).json()
    assert sub["plan_id"] == pro  # not before the period ends
    r = http.post(f"/api/v1/subscriptions/{c.sub_id}/plan-change", json=body, headers=c.auth)
    assert r.status_code == 409, r.text  # one scheduled change at a time

    publish_usage(admin)
    up = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth).json()
    assert up["tollway_estimate"]["total"] == "10.03"
    assert up["stripe"]["total"] == "10.03" and up["agrees"] is True
    end = int(datetime.fromisoformat(up["period_end"]).timestamp())
    assert change["effective_at"] == end

    advance(stripe_client, c.clock, end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    closing = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert closing and closing[0]["total"] == "10.03" and closing[0]["status"] == "paid"

    def on_basic() -> bool:
        got = http.get(f"/api/v1/subscriptions/{c.sub_id}", headers=c.auth).json()
        return bool(got["plan_id"] == basic)

    wait_until(on_basic, 15, "the renewal to move the subscription to Basic")
    r = http.get(f"/api/v1/subscriptions/{c.sub_id}/plan-changes", headers=c.auth)
    assert [x["state"] for x in r.json()] == ["applied"]
    # The gateway now applies Basic's rate limit (5 an hour, the 3 calls of the last hour
    # counted): a call is refused soon.
    wait_until(lambda: httpx.get(books, headers=key).status_code == 429, 15, "Basic's limit")
