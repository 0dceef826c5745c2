"""Helpers for the billing tests: Stripe keys, paying Checkout, reading state back.
Rows are made with ``tests.support.rows``; waiting is ``tests.support.waiting``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, select

from stripe_emulator.testing import Emulator
from tests.support.rows import World
from tollway.store.tables import plans, subscriptions


def store_keys(
    ctx: Any,
    w: World,
    emu: Emulator,
    webhook_secret: str = "whsec_testsecret123",
    secret_key: str | None = None,
) -> None:
    from tollway.billing.credentials import StripeCredentials, store_credentials

    with ctx.engine.begin() as conn:
        store_credentials(
            conn,
            ctx.secrets,
            StripeCredentials(
                w.org_id,
                secret_key or emu.api_key,
                emu.publishable_key,
                (webhook_secret,),
                emu.account_id,
                False,
                "restricted" if secret_key and secret_key.startswith("rk_") else "secret",
            ),
            datetime.now(UTC),
        )
    w.webhook_secret = webhook_secret


def sub_state(engine: Engine, sub_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(subscriptions.c.state).where(subscriptions.c.id == sub_id)).scalar()
        )


def pay_checkout(
    url: str, card: str = "4242424242424242", extra: dict[str, str] | None = None
) -> httpx.Response:
    """Pay on the emulator's hosted checkout page like a browser (no redirect follow);
    ``extra`` fills more fields (``country``, ``tax_id``)."""
    with httpx.Client(trust_env=False, timeout=30) as http:
        page = http.get(url)
        assert page.status_code == 200, page.text
        return http.post(
            url,
            data={
                "email": "buyer@example.com",
                "name": "Ada",
                "card_number": card,
                "expiry": "12/34",
                "cvc": "123",
                **(extra or {}),
            },
        )


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def audit(engine: Engine, sub_id: str) -> list[tuple[str | None, str, str]]:
    from tollway.store.tables import subscription_events

    with engine.connect() as conn:
        rows = conn.execute(
            select(
                subscription_events.c.from_state,
                subscription_events.c.to_state,
                subscription_events.c.cause,
            )
            .where(subscription_events.c.subscription_id == sub_id)
            .order_by(subscription_events.c.created_at, subscription_events.c.id)
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def customer_with_clock(client: Any, engine: Engine, w: World, frozen_time: int) -> tuple[str, str]:
    """A Stripe customer on a test clock, registered as the consumer's customer."""
    from tollway.store.billing_tables import billing_customers

    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen_time})
    customer = client.v1.customers.create(
        params={"email": "buyer@example.com", "test_clock": clock.id}
    )
    with engine.begin() as conn:
        org = conn.execute(select(plans.c.organization_id).where(plans.c.id == w.plan_id)).scalar()
        conn.execute(
            billing_customers.insert().values(
                consumer_id=w.consumer_id,
                organization_id=org,
                customer_id=customer.id,
                created_at=datetime.now(UTC),
            )
        )
    return clock.id, customer.id
