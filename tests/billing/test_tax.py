"""Stripe Tax, end to end (REST API, a real ``tollway gateway``, the emulator): the
admin turns automatic tax on; Checkout then collects the billing address and a tax ID
and saves them to the customer; the consumer (in Germany, taxed at the emulator's test
rate of 19 %) makes 3 calls on $20.00 a month + $0.10 a request. The closing invoice:
$0.30 + the next month's $20.00 = **$20.30** before tax — Tollway's estimate, labelled
"before tax", equals Stripe's ``total_excluding_tax`` to the cent — and the tax is a
separate amount: 19 % per line, $3.80 + $0.06 (0.057 rounded half up) = $3.86, total
$24.16."""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
    portal_page,
    publish_api,
    publish_usage,
    subscribe_and_pay,
)

pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")

TAX_ON = {
    "automatic_tax": True,
    "tax_id_collection": True,
    "billing_address_collection": "required",
}


def test_tax_setting_is_validated_and_admin_only(admin: Any, make_actor: Any) -> None:
    assert admin.get("/api/v1/settings/tax").json() == {
        "automatic_tax": False,
        "tax_id_collection": False,
        "billing_address_collection": "auto",
        "estimates": "not_collected",
    }
    bad = admin.put("/api/v1/settings/tax", json={**TAX_ON, "billing_address_collection": "x"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert "billing_address_collection" in bad.text
    assert admin.put("/api/v1/settings/tax", json={"tax_id_collection": True}).status_code == 422
    pub = make_actor("publisher")
    assert pub.put("/api/v1/settings/tax", json=TAX_ON).status_code == 403
    assert admin.get("/api/v1/settings/tax").json()["automatic_tax"] is False  # nothing stored
    r = admin.put("/api/v1/settings/tax", json=TAX_ON)
    assert r.status_code == 200 and r.json()["estimates"] == "calculated_by_stripe", r.text
    assert pub.get("/api/v1/settings/tax").json() == r.json()


def test_stripe_tax_through_checkout_and_the_closing_invoice(
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
    emu.configure(tax_rates={"DE": 19})
    connect_stripe(admin, emu, stripe_client, served)
    assert admin.put("/api/v1/settings/tax", json=TAX_ON).status_code == 200
    pub = make_actor("publisher")
    api_id, (plan,) = publish_api(pub, upstream, "books", [HYBRID])

    fields = {"country": "DE", "tax_id": "DE123456789"}
    c = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, int(time.time()), fields)
    (session,) = stripe_client.v1.checkout.sessions.list(params={"customer": c.customer}).data
    assert session.automatic_tax.enabled and session.billing_address_collection == "required"
    assert session.tax_id_collection and session.tax_id_collection.enabled
    address = stripe_client.v1.customers.retrieve(c.customer).address
    assert address is not None and address.country == "DE"  # customer_update[address]=auto
    item = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data[0]
    assert item.automatic_tax.enabled

    books, key = f"{gateway}/books/v1/books", {"apikey": c.key}
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "the gateway")
    for _ in range(2):
        assert httpx.get(books, headers=key).status_code == 200
    wait_until(lambda: metered(ctx, c.sub_id) == 3, 30, "the calls to reach the ledger")

    publish_usage(admin)
    up = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth).json()
    ours = up["tollway_estimate"]
    assert (ours["total"], ours["tax"]) == ("20.30", "calculated_by_stripe")
    preview = up["stripe"]
    assert (preview["total_excluding_tax"], preview["tax"], preview["total"]) == (
        "20.30",
        "3.86",
        "24.16",
    )
    assert up["agrees"] is True
    page = portal_page(http, "reader@example.com", f"/portal/subscriptions/{c.sub_id}")
    assert "Tollway's estimate, before tax" in page and "Tax (Stripe Tax)" in page
    assert '<dd data-upcoming="tax"><data class="money" value="3.86">' in page

    advance(stripe_client, c.clock, item["items"].data[0].current_period_end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    (closing,) = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert (closing["total_excluding_tax"], closing["tax"], closing["total"]) == (
        "20.30",
        "3.86",
        "24.16",
    )
    assert closing["status"] == "paid"
    (first,) = [i for i in invoices if i["period_end"] == up["period_start"]]
    assert (first["total_excluding_tax"], first["tax"]) == ("20.00", "3.80")  # Checkout's


def test_tax_turned_on_later_reaches_subscriptions_at_their_next_change(
    ctx: Any,
    emu: Emulator,
    served: str,
    admin: Any,
    make_actor: Any,
    http: Any,
    upstream: str,
    stripe_client: stripe.StripeClient,
) -> None:
    """Two subscribers from before tax was on; then tax on and a v2 ($12.00 a month)
    published with ``move_at_renewal``. At the renewal Tollway moves both to v2's price
    and turns automatic tax on for X, whose customer has an address (entered in the
    customer portal, say), not for Y, whose customer has none (Stripe would refuse the
    whole update): Y still moves. X's next invoice: $12.00 before tax (the estimate),
    19 % tax $2.28, total $14.28."""
    emu.configure(tax_rates={"DE": 19})
    connect_stripe(admin, emu, stripe_client, served)
    pub = make_actor("publisher")
    fee = {**HYBRID, "pricing": {"flat_fee": "10.00"}}
    api_id, (plan,) = publish_api(pub, upstream, "books", [fee])
    now = int(time.time())
    x = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, now, None, "x@example.com")
    y = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, now, None, "y@example.com")
    stripe_client.v1.customers.update(x.customer, params={"address": {"country": "DE"}})
    assert admin.put("/api/v1/settings/tax", json=TAX_ON).status_code == 200
    body = {"pricing": {"flat_fee": "12.00"}, "existing_subscribers": "move_at_renewal"}
    assert pub.post(f"/api/v1/plans/{plan}/versions", json=body).status_code == 201

    renewal = 0
    for c in (x, y):
        (item,) = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data
        assert not item.automatic_tax.enabled
        renewal = item["items"].data[0].current_period_end
        advance(stripe_client, c.clock, renewal + 60)
    for c in (x, y):
        wait_until(
            lambda c=c: (  # type: ignore[misc]
                http.get(f"/api/v1/subscriptions/{c.sub_id}", headers=c.auth).json()["plan_version"]
                == 2
            ),
            15,
            "the move to v2 at renewal",
        )
    (taxed,) = stripe_client.v1.subscriptions.list(params={"customer": x.customer}).data
    (untaxed,) = stripe_client.v1.subscriptions.list(params={"customer": y.customer}).data
    assert taxed.automatic_tax.enabled and not untaxed.automatic_tax.enabled

    def upcoming() -> Any:
        url = f"/api/v1/billing/upcoming?subscription_id={x.sub_id}"
        return http.get(url, headers=x.auth).json()

    started = datetime.fromtimestamp(renewal, UTC).isoformat()  # the same for X and Y
    wait_until(lambda: upcoming()["period_start"] == started, 15, "X's new period")
    up = upcoming()
    assert (up["tollway_estimate"]["total"], up["tollway_estimate"]["tax"]) == (
        "12.00",
        "calculated_by_stripe",
    )
    assert (up["stripe"]["total_excluding_tax"], up["stripe"]["tax"]) == ("12.00", "2.28")
    assert up["agrees"] is True
    end = taxed["items"].data[0].current_period_end
    advance(stripe_client, x.clock, end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=x.auth).json()["data"]
    (closing,) = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert (closing["total_excluding_tax"], closing["tax"], closing["total"]) == (
        "12.00",
        "2.28",
        "14.28",
    )
