"""Checkout and the seven webhook events of the design, through the emulator (signed
deliveries to a served control plane) and the SDK."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import stripe
from sqlalchemy import select

from stripe_emulator.testing import Emulator
from tests.support.rows import World, insert_usage, new_subscription, seed_world
from tests.support.waiting import wait_until
from tollway.context import BillingRuntime
from tollway.store.billing_tables import billing_subscriptions, webhook_inbox
from tollway.webhooks.signature import header

from .helpers import audit, customer_with_clock, pay_checkout, store_keys, sub_state

PAYG = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


# Stripe processes meter events asynchronously and finalizes renewal invoices an hour
# after the period ends; these tests read usage back and expect the charge at once.
pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")


@dataclass
class Env:
    ctx: Any
    w: World
    rt: BillingRuntime
    url: str
    client: stripe.StripeClient


@pytest.fixture
def env(ctx: Any, emu: Emulator, served: str, stripe_client: stripe.StripeClient) -> Env:
    w = seed_world(ctx.engine, PAYG)
    we = stripe_client.v1.webhook_endpoints.create(
        params={"url": f"{served}/webhooks/stripe", "enabled_events": ["*"]}
    )
    assert we.secret
    store_keys(ctx, w, emu, we.secret)
    return Env(ctx, w, ctx.billing, served, stripe_client)


def _state(env: Env, sub: str, want: str, timeout: float = 15) -> None:
    try:
        wait_until(lambda: sub_state(env.ctx.engine, sub) == want, timeout, f"subscription {want}")
    except AssertionError:
        log = env.client.v1.webhook_endpoints.list().data
        raise AssertionError(
            f"{want} not reached; endpoints {log}; inbox {_all_inbox(env)}"
        ) from None


def _all_inbox(env: Env) -> list[Any]:
    with env.ctx.engine.connect() as conn:
        return [(r.type, r.state, r.result) for r in conn.execute(select(webhook_inbox))]


def _billing(env: Env, sub: str) -> Any:
    with env.ctx.engine.connect() as conn:
        return conn.execute(
            select(billing_subscriptions).where(billing_subscriptions.c.subscription_id == sub)
        ).one()


def _inbox(env: Env, type_: str) -> list[Any]:
    with env.ctx.engine.connect() as conn:
        return list(conn.execute(select(webhook_inbox).where(webhook_inbox.c.type == type_)))


def _settled(env: Env, type_: str, n: int = 1) -> list[Any]:
    try:
        return _settled_inner(env, type_, n)
    except AssertionError:
        raise AssertionError(f"{type_} not settled; inbox {_all_inbox(env)}") from None


def _settled_inner(env: Env, type_: str, n: int = 1) -> list[Any]:
    return wait_until(
        lambda: (
            (rows := _inbox(env, type_))
            and len(rows) >= n
            and all(r.state in ("done", "ignored") for r in rows)
            and rows
        ),
        15,
        f"{type_} processed",
    )


def _checkout(env: Env, card: str = "4242424242424242") -> tuple[str, str]:
    sub = new_subscription(env.ctx.engine, env.w)
    url = env.rt.service.start_checkout(sub)
    assert url.startswith(env.rt.api_base or "")
    assert env.rt.service.start_checkout(sub) == url  # same open session again
    resp = pay_checkout(url, card)
    assert resp.status_code == 303, resp.text
    return sub, resp.headers["location"]


def test_checkout_completed_activates_exactly_once(env: Env) -> None:
    sub, success = _checkout(env)
    assert success.startswith(f"{env.url}/billing/checkout/success?session_id=cs_")
    _state(env, sub, "active")
    _settled(env, "checkout.session.completed")
    with httpx.Client(trust_env=False) as http:
        page = http.get(success)  # the redirect, after the webhook: no second activation
    assert page.status_code == 200
    assert [a for a in audit(env.ctx.engine, sub) if a[1] == "active"] == [
        ("on_hold", "active", "webhook")
    ]
    row = _billing(env, sub)
    assert row.stripe_subscription_id and row.current_period_end > row.current_period_start


def test_redirect_and_webhook_race_activate_once(env: Env) -> None:
    sub, success = _checkout(env)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(httpx.get(success, timeout=60).status_code))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6
    _state(env, sub, "active")
    _settled(env, "checkout.session.completed")
    assert len([a for a in audit(env.ctx.engine, sub) if a[1] == "active"]) == 1


def test_duplicate_deliveries_even_concurrent_change_state_once(env: Env) -> None:
    sub = new_subscription(env.ctx.engine, env.w)
    url = env.rt.service.start_checkout(sub)
    session_id = _billing(env, sub).checkout_session_id
    # Pay while the endpoint is disabled, then replay the event ourselves 8 times at once.
    env.client.v1.webhook_endpoints.update(
        env.client.v1.webhook_endpoints.list().data[0].id, params={"disabled": True}
    )
    assert pay_checkout(url).status_code == 303
    event = {
        "id": "evt_dup_1",
        "object": "event",
        "type": "checkout.session.completed",
        "livemode": False,
        "data": {"object": {"id": session_id, "object": "checkout.session"}},
    }
    body = json.dumps(event).encode()
    assert env.w.webhook_secret
    sig = header(body, [env.w.webhook_secret], int(time.time()))
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        answers.append(
            httpx.post(
                f"{env.url}/webhooks/stripe", content=body, headers={"Stripe-Signature": sig}
            )
        )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 7
    _state(env, sub, "active")
    assert len(_settled(env, "checkout.session.completed")) == 1
    assert len([a for a in audit(env.ctx.engine, sub) if a[1] == "active"]) == 1


def test_bad_signature_is_refused_and_unknown_events_acknowledged(env: Env) -> None:
    body = json.dumps(
        {
            "id": "evt_unknown_1",
            "type": "customer.tax_id.created",
            "data": {"object": {"id": "txi_1"}},
        }
    ).encode()
    assert env.w.webhook_secret
    now = int(time.time())
    bad = httpx.post(
        f"{env.url}/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": header(body, ["whsec_wrong1234"], now)},
    )
    assert bad.status_code == 400
    stale = httpx.post(
        f"{env.url}/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": header(body, [env.w.webhook_secret], now - 400)},
    )
    assert stale.status_code == 400
    ok = httpx.post(
        f"{env.url}/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": header(body, [env.w.webhook_secret], now)},
    )
    assert ok.status_code == 200
    (row,) = _settled(env, "customer.tax_id.created")
    assert row.state == "ignored" and "not used" in row.result


def test_checkout_expired_cancels_the_pending_subscription(env: Env) -> None:
    sub = new_subscription(env.ctx.engine, env.w)
    env.rt.service.start_checkout(sub)
    env.client.v1.checkout.sessions.expire(_billing(env, sub).checkout_session_id)
    _state(env, sub, "cancelled")
    _settled(env, "checkout.session.expired")
    assert audit(env.ctx.engine, sub)[-1] == ("on_hold", "cancelled", "webhook")


def _renewal(env: Env, card: str) -> tuple[str, str, str]:
    """A paid subscription on a test clock with usage, advanced past its period end."""
    now = int(time.time())
    clock, _customer = customer_with_clock(env.client, env.ctx.engine, env.w, now)
    sub, _ = _checkout(env, card)
    _state(env, sub, "active")
    insert_usage(env.ctx.engine, env.w, sub, [now * 1000 + i for i in range(50)])
    result = env.rt.usage.flush()
    assert result.value_pushed == 50 and not result.errors
    row = _billing(env, sub)
    env.client.v1.test_helpers.test_clocks.advance(
        clock, params={"frozen_time": row.current_period_end + 60}
    )
    return sub, clock, row.stripe_subscription_id


def test_payment_failed_blocks_and_payment_succeeded_unblocks(env: Env) -> None:
    sub, _clock, stripe_sub = _renewal(env, "4000000000000341")
    _state(env, sub, "blocked")  # grace period 0 in these tests
    _settled(env, "invoice.payment_failed")
    assert _billing(env, sub).stripe_status == "past_due"
    latest = env.client.v1.subscriptions.retrieve(stripe_sub).latest_invoice
    assert isinstance(latest, str)
    env.client.v1.invoices.pay(latest, params={"paid_out_of_band": True})
    _state(env, sub, "active")
    _settled(env, "invoice.payment_succeeded", 2)
    assert [a[1] for a in audit(env.ctx.engine, sub)][-2:] == ["blocked", "active"]


def test_payment_action_required_blocks_even_within_the_grace_period(env: Env) -> None:
    env.rt.webhooks.grace = timedelta(days=3)
    sub, _clock, _ = _renewal(env, "4000002760003184")
    _settled(env, "invoice.payment_action_required")
    _state(env, sub, "blocked")
    assert "authentication" in _last_reason(env, sub)


def test_past_due_keeps_access_during_the_grace_period(env: Env) -> None:
    env.rt.webhooks.grace = timedelta(days=3)
    sub, _clock, _ = _renewal(env, "4000000000000341")
    _settled(env, "invoice.payment_failed")
    wait_until(lambda: _billing(env, sub).stripe_status == "past_due", what="past_due seen")
    assert sub_state(env.ctx.engine, sub) == "active"
    assert _billing(env, sub).past_due_since is not None
    from tollway.webhooks.processor import WebhookProcessor

    later = WebhookProcessor(env.ctx.engine, env.rt.service, env.rt.engines, grace_s=0)
    assert later.sweep_grace() == 1  # the grace period is over: the sweep blocks
    assert sub_state(env.ctx.engine, sub) == "blocked"


def _last_reason(env: Env, sub: str) -> str:
    from tollway.store.tables import subscription_events

    with env.ctx.engine.connect() as conn:
        return str(
            conn.execute(
                select(subscription_events.c.reason)
                .where(subscription_events.c.subscription_id == sub)
                .order_by(subscription_events.c.created_at.desc())
            ).first()[0]
        )


def test_subscription_updated_and_deleted_follow_stripe(env: Env) -> None:
    sub, _ = _checkout(env)
    _state(env, sub, "active")
    stripe_sub = _billing(env, sub).stripe_subscription_id
    env.client.v1.subscriptions.update(stripe_sub, params={"cancel_at_period_end": True})
    _settled(env, "customer.subscription.updated")
    assert sub_state(env.ctx.engine, sub) == "active"
    env.client.v1.subscriptions.cancel(stripe_sub)
    _state(env, sub, "cancelled")
    _settled(env, "customer.subscription.deleted")
    assert _billing(env, sub).stripe_status == "canceled"
    assert audit(env.ctx.engine, sub)[-1] == ("active", "cancelled", "webhook")


def test_cancel_from_tollway_ends_both_sides_and_portal_is_own_only(env: Env) -> None:
    sub, _ = _checkout(env)
    _state(env, sub, "active")
    url = env.rt.service.portal_url(sub, env.w.consumer_id)
    assert url.startswith(env.rt.api_base or "")
    from tollway.domain.errors import NotFound

    with pytest.raises(NotFound):  # someone else's: as if it did not exist
        env.rt.service.portal_url(sub, "usr_someone_else")
    # False when Stripe's customer.subscription.deleted webhook wins the race and moves the
    # state first: either way the subscription ends once, below.
    env.rt.service.cancel(sub)
    stripe_sub = _billing(env, sub).stripe_subscription_id
    assert env.client.v1.subscriptions.retrieve(stripe_sub).status == "canceled"
    assert sub_state(env.ctx.engine, sub) == "cancelled"
    _settled(env, "customer.subscription.deleted")
    assert len([a for a in audit(env.ctx.engine, sub) if a[1] == "cancelled"]) == 1


def test_price_change_reaches_existing_subscribers_at_their_next_period(env: Env) -> None:
    from sqlalchemy import update

    from tollway.store.tables import plans

    now = int(time.time())
    clock, _customer = customer_with_clock(env.client, env.ctx.engine, env.w, now)
    sub, _ = _checkout(env)
    _state(env, sub, "active")
    old = env.rt.service.provisioned(env.w.api_id, env.w.plan_id)
    assert old is not None
    with env.ctx.engine.begin() as conn:
        conn.execute(
            update(plans)
            .where(plans.c.id == env.w.plan_id)
            .values(
                pricing={"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.03"}}
            )
        )
    new = env.rt.service.provision_plan(env.w.api_id, env.w.plan_id)
    assert new is not None and new.usage_price_id != old.usage_price_id
    row = _billing(env, sub)

    def item_price() -> str:
        s = env.client.v1.subscriptions.retrieve(row.stripe_subscription_id)
        return str(s["items"].data[0].price.id)

    assert item_price() == old.usage_price_id  # keeps its price for the current period
    env.client.v1.test_helpers.test_clocks.advance(
        clock, params={"frozen_time": row.current_period_end + 60}
    )
    try:
        wait_until(lambda: item_price() == new.usage_price_id, 15, "the move to the new price")
    except AssertionError:
        raise AssertionError(f"price not moved; inbox {_all_inbox(env)}") from None


def test_cancel_in_the_customer_portal_cancels_in_tollway(env: Env) -> None:
    sub, _ = _checkout(env)
    _state(env, sub, "active")
    portal = env.rt.service.portal_url(sub, env.w.consumer_id)
    stripe_sub = _billing(env, sub).stripe_subscription_id
    with httpx.Client(trust_env=False) as browser:
        assert browser.get(portal).status_code == 200
        path = urlparse(portal).path
        r = browser.post(
            f"{env.rt.api_base}{path}/cancel", data={"subscription": stripe_sub, "mode": "now"}
        )
        assert r.status_code in (200, 303)
    _state(env, sub, "cancelled")
    assert audit(env.ctx.engine, sub)[-1][1:] == ("cancelled", "webhook")


def test_oversized_webhook_is_refused(env: Env) -> None:
    body = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    r = httpx.post(f"{env.url}/webhooks/stripe", content=body, headers={"Stripe-Signature": "t=1"})
    assert r.status_code == 413


def test_oversized_chunked_webhook_is_refused_while_reading(env: Env) -> None:
    """A body without Content-Length is read with a running limit, not buffered whole."""
    import asyncio

    from tollway.control_plane import create_app

    app = create_app(env.ctx)
    consumed = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        consumed += 64 * 1024
        return {"type": "http.request", "body": b" " * (64 * 1024), "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/stripe",
        "raw_path": b"/webhooks/stripe",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
        "headers": [(b"stripe-signature", b"t=1"), (b"transfer-encoding", b"chunked")],
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    assert sent[0]["status"] == 413
    assert consumed <= 2 * 1024 * 1024  # stopped reading just past the 1 MiB limit


def test_failed_application_is_retried_after_a_back_off(env: Env, emu: Emulator) -> None:
    from datetime import UTC, datetime

    from tollway.domain.clock import FixedClock
    from tollway.store import inbox_repo as inbox
    from tollway.webhooks.processor import WebhookProcessor

    sub = new_subscription(env.ctx.engine, env.w)
    url = env.rt.service.start_checkout(sub)
    env.client.v1.webhook_endpoints.update(
        env.client.v1.webhook_endpoints.list().data[0].id, params={"disabled": True}
    )
    assert pay_checkout(url).status_code == 303
    session_id = _billing(env, sub).checkout_session_id
    event = {
        "id": "evt_retry_1",
        "type": "checkout.session.completed",
        "livemode": False,
        "data": {"object": {"id": session_id}},
    }
    now = datetime.now(UTC)
    assert inbox.record(env.ctx.engine, event, env.w.org_id, now)
    clock = FixedClock(now)
    proc = WebhookProcessor(env.ctx.engine, env.rt.service, env.rt.engines, clock=clock)
    emu.rate_limit(True)  # Stripe answers 429 to everything
    try:
        assert proc.process("evt_retry_1") == "retry"
    finally:
        emu.rate_limit(0)
    row = inbox.get(env.ctx.engine, "evt_retry_1")
    assert row is not None and row["state"] == "received" and "retry" in row["result"]
    assert "evt_retry_1" not in inbox.pending(env.ctx.engine, clock.now())  # backing off
    assert proc.process("evt_retry_1") is None
    clock.advance(6)
    assert "evt_retry_1" in inbox.pending(env.ctx.engine, clock.now())
    assert proc.run_pending() == 1
    assert sub_state(env.ctx.engine, sub) == "active"


def test_subscription_event_activates_when_the_checkout_event_is_lost(env: Env) -> None:
    sub = new_subscription(env.ctx.engine, env.w)
    url = env.rt.service.start_checkout(sub)
    env.client.v1.webhook_endpoints.update(
        env.client.v1.webhook_endpoints.list().data[0].id, params={"disabled": True}
    )
    assert pay_checkout(url).status_code == 303
    session = env.client.v1.checkout.sessions.retrieve(_billing(env, sub).checkout_session_id)
    stripe_sub = session.subscription
    assert isinstance(stripe_sub, str)
    engine = env.rt.engines.for_org(env.w.org_id)
    env.rt.webhooks.sync_subscription(engine, stripe_sub, type_="customer.subscription.updated")
    assert sub_state(env.ctx.engine, sub) == "active"
    assert audit(env.ctx.engine, sub)[-1] == ("on_hold", "active", "webhook")


def test_meter_error_report_marks_the_windows_and_shows_on_publish_status(
    env: Env, admin: Any
) -> None:
    """Stripe could not count a meter event (unknown customer): its
    ``v1.billing.meter.error_report_triggered`` report marks that usage window failed
    (not pushed again) and shows on the publish-usage status."""
    from tollway.store.billing_tables import billing_plans, usage_push_windows

    sub = new_subscription(env.ctx.engine, env.w)
    assert pay_checkout(env.rt.service.start_checkout(sub)).status_code == 303
    with env.ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    assert env.rt.service.activate_from_checkout(session) is True
    now_ms = int(time.time() * 1000)
    insert_usage(env.ctx.engine, env.w, sub, [now_ms - 180_000, now_ms - 60_000])
    assert not env.rt.usage.flush().errors
    with env.ctx.engine.connect() as conn:
        idents = [r[0] for r in conn.execute(select(usage_push_windows.c.identifier))]
        meter_id = conn.execute(select(billing_plans.c.meter_id)).scalar()
    assert len(idents) == 2
    event = {
        "id": "evt_test_meter_error_1",
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "livemode": False,
        "created": "2026-11-28T10:00:00.000Z",
        "related_object": {
            "id": meter_id,
            "type": "billing.meter",
            "url": f"/v1/billing/meters/{meter_id}",
        },
        "data": {  # as GET /v2/core/events/{id} answers it
            "developer_message_summary": "1 meter event could not be processed",
            "validation_start": "2026-11-28T09:00:00.000Z",
            "validation_end": "2026-11-28T10:00:00.000Z",
            "reason": {
                "error_count": 1,
                "error_types": [
                    {
                        "code": "meter_event_customer_not_found",
                        "error_count": 1,
                        "sample_errors": [
                            {
                                "error_message": "No customer found for the payload",
                                "request": {"identifier": idents[0]},
                            }
                        ],
                    }
                ],
            },
        },
    }
    body = json.dumps(event).encode()
    assert env.w.webhook_secret
    sig = header(body, [env.w.webhook_secret], int(time.time()))
    r = httpx.post(f"{env.url}/webhooks/stripe", content=body, headers={"Stripe-Signature": sig})
    assert r.status_code == 200, r.text
    wait_until(
        lambda: any(t == event["type"] and s == "done" for t, s, _ in _all_inbox(env)),
        what="the meter error report to be applied",
    )
    with env.ctx.engine.connect() as conn:
        rows = {
            r.identifier: (r.state, r.last_error) for r in conn.execute(select(usage_push_windows))
        }
    assert rows[idents[0]][0] == "failed" and "customer_not_found" in rows[idents[0]][1]
    assert rows[idents[1]][0] == "sent"
    assert env.rt.usage.flush().planned == 0  # a failed window is not pushed blindly again
    r = admin.post("/api/v1/monetization/publish-usage")
    assert r.status_code == 202
    status = wait_until(
        lambda: (
            (s := admin.get("/api/v1/monetization/publish-usage/status").json())["state"]
            == "succeeded"
            and s
        ),
        what="publish usage",
    )
    assert status["failed_windows"] == 1
    report = status["meter_errors"][0]
    assert report["meter_id"] == meter_id and report["error_count"] == 1
    assert report["error_types"] == [{"code": "meter_event_customer_not_found", "error_count": 1}]
