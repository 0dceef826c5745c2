"""Plan versions, end to end (REST API, a real ``tollway gateway``, the emulator).

Two plans at v1 = $10.00/month + $0.02/request, no rate limit; each gets a v2 =
$12.00/month + $0.03/request (Steady's v2 also limited to 2 calls an hour):

* Steady, ``existing_subscribers: "stay"``: subscriber A stays on v1 ("v1
  (grandfathered)") — the gateway still lets A make 3 calls, v1's limits — and is invoiced
  at v1 before and after the renewal ($10.06 for 3 calls, then $10.00); a new subscriber
  N gets v2 (its 3rd call is refused by v2's limit): 2 calls, $12.06.
* Mover, ``existing_subscribers: "move_at_renewal"``: subscriber B ("v1 → v2 at renewal
  on …") is invoiced at v1 for the current period ($10.06 for 3 calls; the next
  period's fee is billed in advance on v1's price, as Stripe does before the move), then
  at v2 ($12.00).

Every invoice equals Tollway's estimate and Stripe's preview to the cent."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until

from .published import (
    Consumer,
    advance,
    connect_stripe,
    metered,
    portal_page,
    publish_api,
    publish_usage,
    subscribe_and_pay,
)

pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")


def _plan(name: str, fee: str, per_call: str) -> dict[str, Any]:
    return {
        "name": name,
        "currency": "USD",
        "billing_interval": "month",
        "pricing": {
            "flat_fee": fee,
            "usage": {"meter": "requests", "model": "unit", "unit_amount": per_call},
        },
    }


V2_PRICING = _plan("", "12.00", "0.03")["pricing"]


def _calls(gateway: str, c: Consumer, n: int) -> list[int]:
    """Wait until the gateway knows the key (the first 200), then make the rest."""
    books, key = f"{gateway}/books/v1/books", {"apikey": c.key}
    wait_until(lambda: httpx.get(books, headers=key).status_code == 200, 15, "the gateway")
    return [200] + [httpx.get(books, headers=key).status_code for _ in range(n - 1)]


def _upcoming(http: Any, c: Consumer) -> dict[str, Any]:
    r = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _sub(http: Any, c: Consumer) -> dict[str, Any]:
    return dict(http.get(f"/api/v1/subscriptions/{c.sub_id}", headers=c.auth).json())


def _close_period(http: Any, client: stripe.StripeClient, c: Consumer, total: str) -> str:
    """Estimate == Stripe's preview == ``total``; advance past the period end; the
    invoice charged is ``total``. Returns the period end."""
    up = _upcoming(http, c)
    assert (up["tollway_estimate"]["total"], up["stripe"]["total"]) == (total, total), up
    assert up["agrees"] is True
    end = int(datetime.fromisoformat(up["period_end"]).timestamp())
    advance(client, c.clock, end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    closing = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert [(i["total"], i["status"]) for i in closing] == [(total, "paid")], invoices
    return str(up["period_end"])


def _renewed(http: Any, c: Consumer, period_end: str) -> None:
    wait_until(lambda: _upcoming(http, c)["period_start"] == period_end, 15, "the renewal webhook")


def test_stay_and_move_at_renewal(
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
    connect_stripe(admin, emu, stripe_client, served)
    pub = make_actor("publisher")
    plans = [_plan("Steady", "10.00", "0.02"), _plan("Mover", "10.00", "0.02")]
    api_id, (steady, mover) = publish_api(pub, upstream, "books", plans)

    def subscribe(plan: str, email: str) -> Consumer:
        now = int(time.time())
        return subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, now, None, email)

    a = subscribe(steady, "a@example.com")
    b = subscribe(mover, "b@example.com")

    bad = {"pricing": V2_PRICING, "existing_subscribers": "later"}
    r = pub.post(f"/api/v1/plans/{steady}/versions", json=bad)
    assert r.status_code == 422 and "existing_subscribers" in r.text, r.text
    r = http.post(f"/api/v1/plans/{steady}/versions", json={**bad, "existing_subscribers": "stay"},
                  headers=a.auth)  # fmt: skip
    assert r.status_code == 403, r.text  # a consumer publishes nothing
    r = http.get(f"/api/v1/plans/{steady}/versions", headers=a.auth)
    assert r.status_code == 403, r.text  # nor reads the subscriber counts
    limit = {"count": 2, "per": "hour"}
    body = {"pricing": V2_PRICING, "rate_limit": limit, "existing_subscribers": "stay"}
    r = pub.post(f"/api/v1/plans/{steady}/versions", json=body)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    body = {"pricing": V2_PRICING, "existing_subscribers": "move_at_renewal"}
    r = pub.post(f"/api/v1/plans/{mover}/versions", json=body)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    n = subscribe(steady, "n@example.com")

    versions = pub.get(f"/api/v1/plans/{steady}/versions").json()
    assert [(v["label"], v["latest"], v["subscribers"]) for v in versions] == [
        ("v1", False, 1),
        ("v2", True, 1),
    ]
    assert versions[1]["rate_limit"] == limit and versions[0]["rate_limit"] is None
    assert versions[1]["existing_subscribers"] == "stay"
    assert _sub(http, a)["plan_version_label"] == "v1 (grandfathered)"
    assert _sub(http, n)["plan_version_label"] == "v2"
    b_end = datetime.fromisoformat(_upcoming(http, b)["period_end"]).date().isoformat()
    assert _sub(http, b)["plan_version_label"] == f"v1 → v2 at renewal on {b_end}"
    page = portal_page(http, "a@example.com", f"/portal/subscriptions/{a.sub_id}")
    assert "data-plan-version>v1 (grandfathered)<" in page

    # The gateway holds each subscriber to its version's limits.
    assert _calls(gateway, a, 3) == [200, 200, 200]  # v1: no rate limit
    assert _calls(gateway, n, 3) == [200, 200, 429]  # v2: 2 an hour
    assert _calls(gateway, b, 3) == [200, 200, 200]
    for c, calls in ((a, 3), (n, 2), (b, 3)):
        wait_until(lambda c=c, k=calls: metered(ctx, c.sub_id) == k, 30, "the ledger")  # type: ignore[misc]
    publish_usage(admin)

    a_end = _close_period(http, stripe_client, a, "10.06")  # v1: 3 x $0.02 + $10.00
    _close_period(http, stripe_client, n, "12.06")  # v2: 2 x $0.03 + $12.00
    b_end = _close_period(http, stripe_client, b, "10.06")  # v1 for the current period

    _renewed(http, b, b_end)
    wait_until(lambda: _sub(http, b)["plan_version"] == 2, 15, "B to move to v2")
    assert _sub(http, b)["plan_version_label"] == "v2"
    _renewed(http, a, a_end)
    assert _sub(http, a)["plan_version_label"] == "v1 (grandfathered)"
    _close_period(http, stripe_client, a, "10.00")  # still v1's fee
    _close_period(http, stripe_client, b, "12.00")  # v2's fee
