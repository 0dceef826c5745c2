"""Cancelling a subscription whose Checkout was already paid, and the billing routes that
must not tell one consumer anything about another consumer's subscription.

* A consumer pays in Checkout and cancels the still ``on_hold`` subscription before the
  completion is processed: the Stripe subscription the Checkout created is cancelled
  too (it used to stay active and keep billing).
* A paid Checkout completing for a subscription that has already ended in Tollway:
  the success redirect and the ``checkout.session.completed`` webhook cancel the Stripe
  subscription (idempotently) instead of leaving it, and the page does not say "active".
* Portal and upcoming invoice answer 404 for someone else's subscription, exactly as for
  an id that does not exist (not 403, not 409 from the Stripe configuration).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import stripe
from sqlalchemy import select, update

from stripe_emulator.testing import Emulator
from tests.support.rows import new_subscription, seed_world
from tests.support.waiting import wait_until
from tollway.store.billing_tables import billing_subscriptions
from tollway.store.tables import subscriptions

from .helpers import audit, pay_checkout, store_keys, sub_state

PAYG = {"flat_fee": "5.00", "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


def _billing(ctx: Any, sub_id: str) -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(
            select(billing_subscriptions).where(billing_subscriptions.c.subscription_id == sub_id)
        ).one()


def _subscribe(consumer: Any, w: Any) -> dict[str, Any]:
    app = consumer.post("/api/v1/applications", json={"name": "a"}).json()["id"]
    r = consumer.post(
        "/api/v1/subscriptions",
        json={"application_id": app, "api_id": w.api_id, "plan_id": w.plan_id},
    )
    assert r.status_code == 201, r.text
    sub: dict[str, Any] = r.json()
    assert sub["state"] == "on_hold"
    return sub


def _stripe_subscription_of_session(client: stripe.StripeClient, ctx: Any, sub_id: str) -> str:
    """The Stripe subscription a paid Checkout created (read from Stripe, not Tollway)."""
    session = client.v1.checkout.sessions.retrieve(_billing(ctx, sub_id).checkout_session_id)
    assert session.status == "complete" and session.subscription
    sub = session.subscription
    return sub if isinstance(sub, str) else sub.id


def test_cancel_after_paying_before_activation_cancels_the_stripe_subscription(
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
    sub = _subscribe(consumer, w)
    paid = pay_checkout(sub["checkout_url"])  # the consumer pays in Checkout ...
    assert paid.status_code == 303
    stripe_sub = _stripe_subscription_of_session(stripe_client, ctx, sub["id"])
    assert stripe_client.v1.subscriptions.retrieve(stripe_sub).status == "active"

    # ... then cancels before the completion reached Tollway (no webhook, no redirect yet)
    r = consumer.post(f"/api/v1/subscriptions/{sub['id']}/cancel", json={})
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    assert stripe_client.v1.subscriptions.retrieve(stripe_sub).status == "canceled"
    row = _billing(ctx, sub["id"])
    assert row.stripe_subscription_id == stripe_sub and row.stripe_status == "canceled"

    # the success redirect arrives afterwards: it neither activates nor claims "active"
    success = urlparse(paid.headers["location"])
    page = http.get(f"{success.path}?{success.query}")
    assert page.status_code == 200
    assert "is active" not in page.text and "cancelled" in page.text
    assert consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == "cancelled"
    assert stripe_client.v1.subscriptions.retrieve(stripe_sub).status == "canceled"
    assert [a for a in audit(ctx.engine, sub["id"]) if a[1] == "active"] == []
    # only the first period's invoice was charged; nothing bills after the cancellation
    invoices = stripe_client.v1.invoices.list(params={"customer": row.customer_id}).data
    assert sum(i.total for i in invoices) == 500


def test_paid_checkout_for_an_ended_subscription_is_cancelled_not_kept(
    ctx: Any,
    emu: Emulator,
    admin: Any,
    make_actor: Any,
    http: Any,
    stripe_client: stripe.StripeClient,
) -> None:
    """The completion arrives for a subscription Tollway already ended without touching
    Stripe (here: ended directly in the database): the redirect must cancel the Stripe
    subscription, every time it is repeated, and never activate."""
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    consumer = make_actor("consumer")
    sub = _subscribe(consumer, w)
    paid = pay_checkout(sub["checkout_url"])
    assert paid.status_code == 303
    stripe_sub = _stripe_subscription_of_session(stripe_client, ctx, sub["id"])
    with ctx.engine.begin() as conn:
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == sub["id"])
            .values(state="expired", updated_at=datetime.now(UTC))
        )
    success = urlparse(paid.headers["location"])
    for _ in range(2):  # the redirect reloaded: idempotent
        page = http.get(f"{success.path}?{success.query}")
        assert page.status_code == 200
        assert "is active" not in page.text and "cancelled" in page.text
        assert stripe_client.v1.subscriptions.retrieve(stripe_sub).status == "canceled"
    assert sub_state(ctx.engine, sub["id"]) == "expired"
    row = _billing(ctx, sub["id"])
    assert row.stripe_subscription_id == stripe_sub and row.stripe_status == "canceled"
    assert row.cancelled_at is not None and row.activated_at is None
    # the webhook's path (the same service call) after the redirect: no change, no error
    session_id = row.checkout_session_id
    assert ctx.billing.service.activate_from_checkout(session_id) is False
    assert stripe_client.v1.subscriptions.retrieve(stripe_sub).status == "canceled"


def test_checkout_completed_webhook_for_a_cancelled_subscription_cancels_at_stripe(
    ctx: Any,
    emu: Emulator,
    admin: Any,
    make_actor: Any,
    served: str,
    stripe_client: stripe.StripeClient,
) -> None:
    w = seed_world(ctx.engine, PAYG)
    we = stripe_client.v1.webhook_endpoints.create(
        params={"url": f"{served}/webhooks/stripe", "enabled_events": ["*"]}
    )
    assert we.secret
    store_keys(ctx, w, emu, we.secret)
    consumer = make_actor("consumer")
    sub = _subscribe(consumer, w)
    with ctx.engine.begin() as conn:  # ended in Tollway while the consumer is paying
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == sub["id"])
            .values(state="cancelled", updated_at=datetime.now(UTC))
        )
    assert pay_checkout(sub["checkout_url"]).status_code == 303
    stripe_sub = _stripe_subscription_of_session(stripe_client, ctx, sub["id"])
    wait_until(
        lambda: stripe_client.v1.subscriptions.retrieve(stripe_sub).status == "canceled",
        15,
        "the checkout.session.completed webhook to cancel the Stripe subscription",
    )
    assert sub_state(ctx.engine, sub["id"]) == "cancelled"
    wait_until(
        lambda: _billing(ctx, sub["id"]).stripe_status == "canceled", 15, "billing row canceled"
    )


def _problem(r: Any) -> tuple[int, str, str, str]:
    body = r.json()
    return r.status_code, body["type"], body["title"], body["detail"]


def test_portal_and_upcoming_answer_404_for_someone_elses_subscription(
    ctx: Any,
    emu: Emulator,
    admin: Any,
    make_actor: Any,
    stripe_client: stripe.StripeClient,
) -> None:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    owner = make_actor("consumer")
    other = make_actor("consumer")
    sub = _subscribe(owner, w)
    assert pay_checkout(sub["checkout_url"]).status_code == 303
    session_id = _billing(ctx, sub["id"]).checkout_session_id
    assert ctx.billing.service.activate_from_checkout(session_id) is True
    missing = "sub_doesnotexist0000000000"
    assert owner.post(f"/api/v1/subscriptions/{sub['id']}/portal").status_code == 200
    assert owner.get(f"/api/v1/billing/upcoming?subscription_id={sub['id']}").status_code == 200

    theirs = other.post(f"/api/v1/subscriptions/{sub['id']}/portal")
    nothing = other.post(f"/api/v1/subscriptions/{missing}/portal")
    assert theirs.status_code == 404, theirs.text
    assert _problem(theirs) == _problem(nothing)[:3] + (
        _problem(nothing)[3].replace(missing, sub["id"]),
    )

    theirs = other.get(f"/api/v1/billing/upcoming?subscription_id={sub['id']}")
    nothing = other.get(f"/api/v1/billing/upcoming?subscription_id={missing}")
    assert theirs.status_code == 404, theirs.text
    assert _problem(theirs) == _problem(nothing)[:3] + (
        _problem(nothing)[3].replace(missing, sub["id"]),
    )


def test_upcoming_checks_ownership_before_the_stripe_configuration(
    ctx: Any, admin: Any, make_actor: Any
) -> None:
    """Stripe not connected for the subscription's organization: its owner learns that
    (409), anyone else gets the same 404 as for an id that does not exist."""
    w = seed_world(ctx.engine, PAYG)  # no keys stored
    sub_id = new_subscription(ctx.engine, w, state="active")
    other = make_actor("consumer")
    missing = "sub_doesnotexist0000000000"
    theirs = other.get(f"/api/v1/billing/upcoming?subscription_id={sub_id}")
    nothing = other.get(f"/api/v1/billing/upcoming?subscription_id={missing}")
    assert theirs.status_code == 404, theirs.text
    assert _problem(theirs) == _problem(nothing)[:3] + (
        _problem(nothing)[3].replace(missing, sub_id),
    )
    theirs = other.post(f"/api/v1/subscriptions/{sub_id}/portal")
    assert theirs.status_code == 404, theirs.text
    # the owner (and an admin) still see why there is nothing to show
    assert admin.get(f"/api/v1/billing/upcoming?subscription_id={sub_id}").status_code == 409


def test_upcoming_keeps_tollway_estimate_when_stripe_refuses_the_preview(
    ctx: Any, emu: Emulator, make_actor: Any
) -> None:
    """A restricted key without ``rak_invoice_write`` cannot preview the invoice: the
    answer is still 200 with Tollway's estimate, and Stripe's error next to it."""
    from tollway.billing.stripe.keys import REQUIRED_PERMISSIONS

    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    owner = make_actor("consumer")
    sub = _subscribe(owner, w)
    assert pay_checkout(sub["checkout_url"]).status_code == 303
    assert ctx.billing.service.activate_from_checkout(_billing(ctx, sub["id"]).checkout_session_id)
    reader = emu.restricted_key(
        [p for p in REQUIRED_PERMISSIONS if p != "rak_invoice_write"] + ["rak_invoice_read"]
    )
    store_keys(ctx, w, emu, secret_key=reader)
    r = owner.get(f"/api/v1/billing/upcoming?subscription_id={sub['id']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stripe"] is None and body["agrees"] is None
    assert "rak_invoice_write" in body["stripe_error"]
    assert body["tollway_estimate"]["total"] == "5.00"
    assert body["tollway_estimate"]["usage_quantity"] == 0
    # with the permission, Stripe's preview is back and there is no error
    store_keys(ctx, w, emu, secret_key=emu.restricted_key(list(REQUIRED_PERMISSIONS)))
    body = owner.get(f"/api/v1/billing/upcoming?subscription_id={sub['id']}").json()
    assert body["stripe_error"] is None and body["stripe"]["total"] == "5.00"
