"""Reconciliation (tollway reconcile) and the billing REST routes."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from stripe_emulator.testing import Emulator
from tests.support.rows import insert_usage, new_subscription, seed_plan, seed_world
from tests.support.waiting import wait_until
from tollway.billing import invoices as billing_invoices
from tollway.billing.stripe.keys import REQUIRED_PERMISSIONS
from tollway.cli import reconcile_report
from tollway.domain.clock import FixedClock
from tollway.store import db
from tollway.store.billing_tables import billing_plans, billing_subscriptions, stripe_accounts

from .helpers import pay_checkout, store_keys

PAYG = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


# Stripe processes meter events asynchronously; these tests read usage back at once.
pytestmark = pytest.mark.usefixtures("immediate_meter_events")


def test_reconcile_reports_every_difference(ctx: Any, emu: Emulator) -> None:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    rt = ctx.billing
    sub = new_subscription(ctx.engine, w)
    assert pay_checkout(rt.service.start_checkout(sub)).status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    rt.service.activate_from_checkout(session)
    now_ms = int(time.time() * 1000)
    insert_usage(ctx.engine, w, sub, [now_ms + i for i in range(40)])
    assert not rt.usage.flush().errors
    ctx.clock = FixedClock(datetime.fromtimestamp(now_ms / 1000 + 600, UTC))
    out = io.StringIO()
    assert reconcile_report(ctx, out) == 0, out.getvalue()
    assert "1 subscription period(s) compared, 0 difference(s), 0 with" in out.getvalue()
    insert_usage(ctx.engine, w, sub, [now_ms + 5 for _ in range(3)])  # never pushed
    out = io.StringIO()
    assert reconcile_report(ctx, out) == 1
    assert f"DIFF {sub} requests" in out.getvalue() and "ledger 43, stripe 40" in out.getvalue()


def test_usage_stripe_has_not_processed_yet_is_pending_not_a_difference(
    ctx: Any, emu: Emulator
) -> None:
    """Stripe counts meter events asynchronously: right after a push, reconcile reports
    the usage as pending (exit 0) and the upcoming invoice says neither agree nor differ;
    once Stripe has counted it and the lag has passed, both compare and agree."""
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    rt = ctx.billing
    sub = new_subscription(ctx.engine, w)
    assert pay_checkout(rt.service.start_checkout(sub)).status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    rt.service.activate_from_checkout(session)
    emu.configure(meter_event_delay_s=3600)  # Stripe has not processed them (yet)
    now_ms = int(time.time() * 1000)
    insert_usage(ctx.engine, w, sub, [now_ms + i for i in range(40)])
    assert not rt.usage.flush().errors
    ctx.clock = FixedClock(datetime.fromtimestamp(now_ms / 1000 + 120, UTC))  # window closed
    out = io.StringIO()
    assert reconcile_report(ctx, out) == 0, out.getvalue()
    assert f"PENDING {sub} requests" in out.getvalue() and "40 pending" in out.getvalue()
    assert "0 difference(s), 1 with usage pending" in out.getvalue()
    with db.reading(ctx.engine) as conn:
        up = billing_invoices.upcoming(
            conn,
            rt.engines.for_org(w.org_id),
            sub,
            w.consumer_id,
            settled_before=datetime.now(UTC) - timedelta(seconds=300),
        )
    assert up["stripe"]["total"] == "0.00" and up["tollway_estimate"]["total"] == "0.80"
    assert up["agrees"] is None and up["usage_pending"] == 40
    # once the lag has passed, a difference is a difference
    ctx.clock = FixedClock(datetime.fromtimestamp(now_ms / 1000 + 900, UTC))
    out = io.StringIO()
    assert reconcile_report(ctx, out) == 1
    assert "ledger 40, stripe 0" in out.getvalue()


def test_stripe_settings_are_validated_stored_encrypted_and_masked(
    ctx: Any, emu: Emulator, admin: Any, stripe_client: stripe.StripeClient
) -> None:
    with ctx.engine.connect() as conn:
        from tollway.store.tables import users

        org = conn.execute(select(users.c.organization_id).where(users.c.id == admin.id)).scalar()
    w = seed_world(ctx.engine, PAYG)
    assert w.org_id == org
    good = {
        "secret_key": emu.api_key,
        "publishable_key": emu.publishable_key,
        "webhook_secret": "whsec_abcdefgh12345678",
    }
    r = admin.put(
        "/api/v1/settings/stripe", json={**good, "publishable_key": "pk_live_abcdefgh1234"}
    )
    assert r.status_code == 422 and "live-mode" in r.text
    r = admin.put("/api/v1/settings/stripe", json={**good, "secret_key": "sk_test_notavalidkey123"})
    assert r.status_code == 422 and "secret_key" in r.text and "invalid key" in r.text
    weak = emu.restricted_key(["rak_product_write", "rak_plan_write"])
    r = admin.put("/api/v1/settings/stripe", json={**good, "secret_key": weak})
    assert r.status_code == 422 and "rak_billing_meter_write" in r.text
    assert "rak_product_write" not in r.text.split("lacks")[1]
    strong = emu.restricted_key(list(REQUIRED_PERMISSIONS))
    r = admin.put("/api/v1/settings/stripe", json={**good, "secret_key": strong})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["secret_key"] == f"…{strong[-4:]}" and strong not in r.text
    assert body["webhook_secret"] == "…5678" and "whsec_abcdefgh" not in r.text
    assert body["provisioned_plans"] == 1 and body["provisioning_errors"] == []
    with ctx.engine.connect() as conn:
        row = conn.execute(select(stripe_accounts)).one()
        assert strong not in row.secret_key_encrypted
        assert conn.execute(select(billing_plans.c.usage_price_id)).scalar()
    assert admin.get("/api/v1/settings/stripe").json()["configured"] is True
    # a second plan enabled through the API is provisioned at once
    seed_plan(ctx.engine, w.org_id, w.api_id, PAYG, name="Second")
    r = admin.put("/api/v1/settings/stripe", json={**good, "secret_key": strong})
    assert r.json()["provisioned_plans"] == 2
    assert len(stripe_client.v1.products.list().data) == 2


def test_publish_usage_job_and_status(ctx: Any, emu: Emulator, admin: Any, http: Any) -> None:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    assert admin.get("/api/v1/monetization/publish-usage/status").status_code == 404
    r = admin.post("/api/v1/monetization/publish-usage")
    assert r.status_code == 202 and r.json()["state"] == "queued"
    job = r.json()["id"]
    done = wait_until(
        lambda: (
            (s := admin.get("/api/v1/monetization/publish-usage/status").json())
            and s["state"] in ("succeeded", "failed")
            and s
        ),
        what="publish usage job",
    )
    assert done["id"] == job and done["state"] == "succeeded" and done["errors"] == 0
    assert done["started_at"] and done["finished_at"]
    assert http.post("/api/v1/monetization/publish-usage").status_code == 401
