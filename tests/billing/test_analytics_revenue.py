"""Revenue analytics from Stripe's invoices: a subscription Stripe bills counts by its
invoices (the first month's $10.00 fee, paid in Checkout), labelled ``stripe_invoices``,
never also by Tollway's estimate; a subscription without Stripe billing (seeded straight
into the database) counts by Tollway's estimate, labelled so."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe

from stripe_emulator.testing import Emulator
from tests.support import rows

from .published import connect_stripe, publish_api, subscribe_and_pay

MONTHLY = {
    "name": "Monthly",
    "currency": "USD",
    "billing_interval": "month",
    "pricing": {"flat_fee": "10.00"},
}


def test_stripe_billed_revenue_comes_from_its_invoices(
    ctx: Any,
    emu: Emulator,
    served: str,
    admin: Any,
    make_actor: Any,
    http: Any,
    upstream: str,
    stripe_client: stripe.StripeClient,
) -> None:
    connect_stripe(admin, emu, stripe_client, served)
    pub = make_actor("publisher")
    api_id, (plan_id,) = publish_api(pub, upstream, "books", [MONTHLY])
    t0 = int(time.time())
    paid = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan_id, t0)
    org = pub.get("/api/v1/users/me").json()["organization_id"]
    consumer = rows.user(ctx.engine, org, "consumer")
    w = rows.World(org, admin.id, consumer, api_id, plan_id, rows.application(ctx.engine, consumer))
    estimated = rows.new_subscription(ctx.engine, w, state="active")

    day = timedelta(days=1)
    at = datetime.fromtimestamp(t0, UTC)
    window = {"from": (at - day).isoformat(), "to": (at + day).isoformat(), "granularity": "day"}
    r = pub.get("/api/v1/analytics/revenue", params=window)
    assert r.status_code == 200, r.text
    got = [(row["source"], Decimal(row["amount"]), row["items"]) for row in r.json()["rows"]]
    assert sorted(got) == [
        ("stripe_invoices", Decimal("10.00"), 1),
        ("tollway_estimate", Decimal("10.00"), 1),
    ]
    totals = {t["source"]: Decimal(t["amount"]) for t in r.json()["totals"]}
    assert totals == {"stripe_invoices": Decimal("10.00"), "tollway_estimate": Decimal("10.00")}
    assert paid.sub_id != estimated
