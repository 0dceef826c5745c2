"""Prepaid credits end to end: REST API, a real `tollway gateway` process and the Stripe
emulator (over the SDK). A $1.00 credit pack is bought on the emulator's Checkout page,
burns at $0.25 a call to zero at the fourth call, the fifth is refused with 402, and an
automatic top-up charged to the saved card restores service. The credit ledger is
append-only and reconciles with the usage ledger to the cent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until
from tollway.store.tables import credit_entries, usage_events
from tollway.workers.credits import CreditKeeper

from .helpers import pay_checkout
from .published import connect_stripe

pytestmark = pytest.mark.slow


def _ledger_calls(ctx: Any, sub_id: str) -> int:
    with ctx.engine.connect() as conn:
        query = select(func.count()).select_from(usage_events)
        return int(
            conn.execute(query.where(usage_events.c.subscription_id == sub_id)).scalar() or 0
        )


def _entries(ctx: Any, sub_id: str) -> list[tuple[str, Decimal]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(credit_entries.c.kind, credit_entries.c.amount)
            .where(credit_entries.c.subscription_id == sub_id)
            .order_by(credit_entries.c.created_at, credit_entries.c.id)
        )
        return [(kind, Decimal(amount)) for kind, amount in rows]


def test_a_credit_pack_burns_to_zero_refuses_then_auto_top_up_restores_service(
    ctx: Any,
    emu: Emulator,
    served: str,
    admin: Any,
    make_actor: Any,
    upstream: str,
    gateway: str,
    stripe_client: stripe.StripeClient,
) -> None:
    connect_stripe(admin, emu, stripe_client, served)
    pub, con = make_actor("publisher"), make_actor("consumer")
    r = pub.post("/api/v1/apis", json={"name": "Books", "context": "books", "version": "v1"})
    api_id = r.json()["id"]
    r = pub.put(f"/api/v1/apis/{api_id}/deployments/production", json={"upstream_url": upstream})
    assert r.status_code == 200, r.text
    r = pub.post(
        "/api/v1/plans",
        json={
            "name": "Prepaid",
            "currency": "USD",
            "pricing": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.25"}},
        },
    )
    plan_id = r.json()["id"]
    r = pub.put(f"/api/v1/plans/{plan_id}/prepaid", json={"packs": ["5.00", "1"]})
    assert r.status_code == 200, r.text
    assert r.json()["packs"] == ["1.00", "5.00"]
    assert pub.put(f"/api/v1/apis/{api_id}/plans/{plan_id}", json={"enabled": True}).is_success
    assert pub.post(f"/api/v1/apis/{api_id}/lifecycle", json={"state": "published"}).is_success

    app_id = con.post("/api/v1/applications", json={"name": "reader"}).json()["id"]
    r = con.post(
        "/api/v1/subscriptions",
        json={"application_id": app_id, "api_id": api_id, "plan_id": plan_id},
    )
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    assert (r.json()["state"], r.json()["checkout_url"]) == ("active", None)  # paid up front
    key = con.post(f"/api/v1/applications/{app_id}/keys", json={}).json()["key"]
    books = f"{gateway}/books/v1/books"

    # No credit yet: refused with a top-up link.
    def refused() -> httpx.Response | None:
        answer = httpx.get(books, headers={"apikey": key})
        return answer if answer.status_code == 402 else None

    first = wait_until(refused, 20, "the gateway to know the prepaid subscription")
    body = first.json()
    assert (body["reason"], body["credited"], body["spent"]) == ("credit_exhausted", "0.00", "0.00")
    assert body["top_up"].endswith(f"/api/v1/subscriptions/{sub_id}/credits/checkout")

    # Buy a $1.00 pack on the emulator's Checkout page; the return page credits it.
    r = con.post(f"/api/v1/subscriptions/{sub_id}/credits/checkout", json={"amount": "2.00"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["amount"], r.text
    r = con.post(f"/api/v1/subscriptions/{sub_id}/credits/checkout", json={"amount": "1.00"})
    assert r.status_code == 201, r.text
    paid = pay_checkout(r.json()["checkout_url"])
    assert paid.status_code == 303
    done = paid.headers["location"]
    assert urlparse(done).path == "/billing/credits/done"
    page = httpx.get(done)
    assert page.status_code == 200 and "credit is added" in page.text
    credits = con.get(f"/api/v1/subscriptions/{sub_id}/credits").json()
    assert (credits["credited"], credits["balance"], credits["card_saved"]) == (
        "1.00",
        "1.00",
        True,
    )

    # $1.00 buys four calls at $0.25; the fifth is refused.
    wait_until(
        lambda: httpx.get(books, headers={"apikey": key}).status_code == 200,
        20,
        "the gateway to see the credit",
    )
    balances = [httpx.get(books, headers={"apikey": key}) for _ in range(4)]
    assert [b.status_code for b in balances] == [200, 200, 200, 402]
    assert [b.headers["Tollway-Credit-Balance"] for b in balances] == [
        "0.50 USD",
        "0.25 USD",
        "0.00 USD",
        "0.00 USD",
    ]
    assert balances[0].headers["Tollway-Credit-Total"] == "1.00 USD"
    wait_until(lambda: _ledger_calls(ctx, sub_id) == 4, 20, "four calls in the usage ledger")

    # Automatic top-up: the keeper burns the usage and charges the saved card.
    r = con.put(
        f"/api/v1/subscriptions/{sub_id}/credits/auto-top-up",
        json={"below": "0.30", "amount": "1.00"},
    )
    assert r.status_code == 200, r.text
    keeper = CreditKeeper(ctx.engine, ctx.billing.engines)
    assert keeper.run_once() == 1
    assert keeper.run_once() == 0  # the balance is above the threshold again
    wait_until(
        lambda: httpx.get(books, headers={"apikey": key}).status_code == 200,
        20,
        "the gateway to see the top-up",
    )
    wait_until(lambda: _ledger_calls(ctx, sub_id) == 5, 20, "five calls in the usage ledger")
    keeper.run_once()

    entries = _entries(ctx, sub_id)
    kinds = [k for k, _ in entries]
    assert kinds.count("purchase") == 1 and kinds.count("auto_topup") == 1
    usage = sum(a for k, a in entries if k == "usage")
    assert usage == Decimal("-1.25")  # five calls x $0.25, to the cent
    credits = con.get(f"/api/v1/subscriptions/{sub_id}/credits").json()
    assert (credits["credited"], credits["used"], credits["balance"]) == ("2.00", "1.25", "0.75")
    assert sum(Decimal(e["amount"]) for e in credits["entries"]) == Decimal(credits["balance"])
    intents = stripe_client.v1.payment_intents.list().data
    assert sorted(i.amount for i in intents if i.status == "succeeded") == [100, 100]
