"""Stripe's invoice preview agrees with Tollway's own estimate, to the cent, for each
price model; the invoice after the period closes carries the same amount."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from stripe_emulator.testing import Emulator
from tests.support.rows import insert_usage, new_subscription, seed_world
from tollway.billing import invoices as billing_invoices
from tollway.store import db
from tollway.store.billing_tables import billing_subscriptions

from .helpers import customer_with_clock, pay_checkout, store_keys

CASES: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "unit",
        {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.0125"}},
        333,
        "4.16",
    ),
    (
        "package",
        {
            "usage": {
                "meter": "requests",
                "model": "package",
                "unit_amount": "5.00",
                "package_size": 1000,
            }
        },
        2500,
        "15.00",
    ),
    (
        "graduated",
        {
            "usage": {
                "meter": "requests",
                "model": "graduated",
                "tiers": [
                    {"up_to": 100, "unit_amount": "0.05"},
                    {"up_to": None, "unit_amount": "0.013", "flat_amount": "1.00"},
                ],
            }
        },
        257,
        "8.04",
    ),
    (
        "volume",
        {
            "usage": {
                "meter": "requests",
                "model": "volume",
                "tiers": [
                    {"up_to": 100, "unit_amount": "0.05"},
                    {"up_to": None, "unit_amount": "0.0333"},
                ],
            }
        },
        257,
        "8.56",
    ),
    (
        "flat fee + included units",
        {
            "flat_fee": "9.99",
            "included_units": 100,
            "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.015"},
        },
        257,
        "12.35",
    ),
]


# Stripe processes meter events asynchronously; these tests read usage back at once.
pytestmark = pytest.mark.usefixtures("immediate_meter_events")


@pytest.mark.parametrize("name, pricing, calls, expected", CASES, ids=[c[0] for c in CASES])
def test_preview_agrees_with_estimate_and_the_final_invoice(
    ctx: Any,
    emu: Emulator,
    stripe_client: stripe.StripeClient,
    name: str,
    pricing: dict[str, Any],
    calls: int,
    expected: str,
) -> None:
    w = seed_world(ctx.engine, pricing)
    store_keys(ctx, w, emu)
    rt = ctx.billing
    now = int(time.time())
    clock, customer = customer_with_clock(stripe_client, ctx.engine, w, now)
    sub = new_subscription(ctx.engine, w)
    assert pay_checkout(rt.service.start_checkout(sub)).status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    rt.service.activate_from_checkout(session)
    insert_usage(ctx.engine, w, sub, [now * 1000 + i for i in range(calls)])
    assert not rt.usage.flush().errors
    engine = rt.engines.for_org(w.org_id)
    with db.reading(ctx.engine) as conn:
        got = billing_invoices.upcoming(conn, engine, sub, w.consumer_id)
    assert got["tollway_estimate"]["total"] == expected
    assert got["stripe"]["total"] == expected
    assert got["agrees"] is True
    with ctx.engine.connect() as conn:
        end = conn.execute(select(billing_subscriptions.c.current_period_end)).scalar()
    stripe_client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": end + 60})
    usage_invoices = [
        i for i in engine.list_invoices(customer) if i.period_end == end and i.period_start < end
    ]
    assert [i.total_minor for i in usage_invoices] == [got["stripe"]["total_minor"]]


def test_the_console_subscriber_shows_its_invoices_and_the_keys_last_use(
    ctx: Any, emu: Emulator, stripe_client: stripe.StripeClient
) -> None:
    """The publisher's view of one subscriber: its Stripe invoices, newest first, with the
    closing invoice's total, and each key of the application with when the ledger last
    saw it (never its hash)."""
    from datetime import UTC, datetime

    from tests.support.rows import usage_event
    from tollway.domain.principal import Principal
    from tollway.services import subscribers
    from tollway.store import apps_repo
    from tollway.store.ledger import SqlLedger

    w = seed_world(ctx.engine, CASES[0][1])  # unit: 333 calls at $0.0125 = $4.16
    store_keys(ctx, w, emu)
    rt = ctx.billing
    now = int(time.time())
    clock, _customer = customer_with_clock(stripe_client, ctx.engine, w, now)
    sub = new_subscription(ctx.engine, w)
    assert pay_checkout(rt.service.start_checkout(sub)).status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    rt.service.activate_from_checkout(session)
    with db.transaction(ctx.engine) as conn:
        used, _ = apps_repo.create_key(conn, w.app_id, "production", "laptop", datetime.now(UTC))
        apps_repo.create_key(conn, w.app_id, "production", "spare", datetime.now(UTC))
    at_ms = now * 1000
    events = [
        usage_event(
            i,
            event_id=f"ue_detail_{i}",
            timestamp_ms=at_ms + i,
            organization_id=w.org_id,
            api_id=w.api_id,
            operation_id=None,
            application_id=w.app_id,
            subscription_id=sub,
            consumer_id=w.consumer_id,
            credential_id=used["id"],
            environment="production",
        )
        for i in range(333)
    ]
    SqlLedger(ctx.engine).write(events)
    assert not rt.usage.flush().errors
    publisher = Principal(w.admin_id, "publisher", w.org_id, "pub@example.test")
    with db.reading(ctx.engine) as conn:
        before = subscribers.subscriber(ctx, conn, publisher, sub)
    by_name = {k["name"]: k for k in before["keys"]}
    assert by_name["spare"]["last_used_at"] is None
    last = by_name["laptop"]["last_used_at"]
    assert last is not None and int(last.timestamp() * 1000) == at_ms + 332
    assert "key_hash" not in by_name["laptop"]
    with ctx.engine.connect() as conn:
        end = conn.execute(select(billing_subscriptions.c.current_period_end)).scalar()
    stripe_client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": end + 60})
    with db.reading(ctx.engine) as conn:
        after = subscribers.subscriber(ctx, conn, publisher, sub)
    assert after["invoices_error"] is None
    newest = after["invoices"][0]  # newest first: the invoice that closed the period
    assert (newest["total"], newest["currency"]) == ("4.16", "USD")
    assert {i["subscription_id"] for i in after["invoices"]} == {_stripe_subscription(ctx, sub)}


def _stripe_subscription(ctx: Any, sub: str) -> str:
    with ctx.engine.connect() as conn:
        return str(
            conn.execute(
                select(billing_subscriptions.c.stripe_subscription_id).where(
                    billing_subscriptions.c.subscription_id == sub
                )
            ).scalar()
        )
