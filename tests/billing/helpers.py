"""Helpers for the billing tests: seeding rows, paying checkout, polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, select

from stripe_emulator.testing import Emulator
from tollway.domain.ids import new_id
from tollway.store.tables import (
    api_plans,
    apis,
    applications,
    organizations,
    plans,
    subscriptions,
    users,
)


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (no sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class World:
    org_id: str
    admin_id: str
    consumer_id: str
    api_id: str
    plan_id: str
    app_id: str
    webhook_secret: str | None = None


def seed_plan(
    engine: Engine,
    org_id: str,
    api_id: str,
    pricing: dict[str, Any],
    *,
    name: str | None = None,
    currency: str = "USD",
    interval: str = "month",
) -> str:
    now = datetime.now(UTC)
    plan_id = new_id("plan")
    with engine.begin() as conn:
        conn.execute(
            plans.insert().values(
                id=plan_id,
                organization_id=org_id,
                name=name or f"Plan {plan_id[-6:]}",
                description="",
                currency=currency,
                billing_interval=interval,
                rate_limit_count=None,
                rate_limit_unit=None,
                quota_limit=None,
                quota_mode="hard",
                pricing=pricing,
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            api_plans.insert().values(api_id=api_id, plan_id=plan_id, enabled=True, created_at=now)
        )
    return plan_id


def seed_world(engine: Engine, pricing: dict[str, Any]) -> World:
    now = datetime.now(UTC)
    org_id, admin_id, consumer_id = new_id("org"), new_id("usr"), new_id("usr")
    api_id, app_id = new_id("api"), new_id("app")
    with engine.begin() as conn:
        existing = conn.execute(select(organizations.c.id)).scalar()
        if existing:
            org_id = existing
        else:
            conn.execute(
                organizations.insert().values(
                    id=org_id, name="Org", slug=f"o{org_id[-8:]}", created_at=now
                )
            )
        for uid, role in ((admin_id, "admin"), (consumer_id, "consumer")):
            conn.execute(
                users.insert().values(
                    id=uid,
                    organization_id=org_id,
                    email=f"{uid.lower()}@example.com",
                    name=role,
                    role=role,
                    password_hash=None,
                    disabled=False,
                    created_at=now,
                )
            )
        conn.execute(
            apis.insert().values(
                id=api_id,
                organization_id=org_id,
                name="Reading List",
                context=f"/rl{api_id[-6:].lower()}",
                version="v1",
                description="",
                lifecycle="published",
                usage_header=None,
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            applications.insert().values(
                id=app_id,
                owner_id=consumer_id,
                name="app",
                description="",
                token_lifetime_s=3600,
                created_at=now,
            )
        )
    plan_id = seed_plan(engine, org_id, api_id, pricing, name="Pay-as-you-go")
    return World(org_id, admin_id, consumer_id, api_id, plan_id, app_id)


def new_subscription(
    engine: Engine,
    w: World,
    state: str = "on_hold",
    plan_id: str | None = None,
    app_id: str | None = None,
) -> str:
    now = datetime.now(UTC)
    sub_id = new_id("sub")
    with engine.begin() as conn:
        conn.execute(
            subscriptions.insert().values(
                id=sub_id,
                application_id=app_id or w.app_id,
                api_id=w.api_id,
                plan_id=plan_id or w.plan_id,
                consumer_id=w.consumer_id,
                state=state,
                billing_anchor=now,
                created_at=now,
                updated_at=now,
            )
        )
    return sub_id


def store_keys(
    ctx: Any, w: World, emu: Emulator, webhook_secret: str = "whsec_testsecret123"
) -> None:
    from tollway.billing.credentials import StripeCredentials, store_credentials

    with ctx.engine.begin() as conn:
        store_credentials(
            conn,
            ctx.secrets,
            StripeCredentials(
                w.org_id,
                emu.api_key,
                emu.publishable_key,
                (webhook_secret,),
                emu.account_id,
                False,
                "secret",
            ),
            datetime.now(UTC),
        )
    w.webhook_secret = webhook_secret


def sub_state(engine: Engine, sub_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(subscriptions.c.state).where(subscriptions.c.id == sub_id)).scalar()
        )


def pay_checkout(url: str, card: str = "4242424242424242") -> httpx.Response:
    """Pay on the emulator's hosted checkout page like a browser (no redirect follow)."""
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
            },
        )


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def insert_usage(
    engine: Engine, w: World, sub_id: str, timestamps_ms: list[int], status: int = 200
) -> None:
    """Write ledger rows directly (what the gateway's ledger writer does)."""
    from tollway.store.tables import usage_events

    now = datetime.now(UTC)
    rows = [
        {
            "event_id": new_id("ue"),
            "timestamp_ms": ts,
            "organization_id": w.org_id,
            "api_id": w.api_id,
            "operation_id": None,
            "method": "GET",
            "status": status,
            "latency_ms": 5,
            "request_bytes": 10,
            "response_bytes": 100,
            "application_id": w.app_id,
            "subscription_id": sub_id,
            "credential_id": "key_1",
            "consumer_id": w.consumer_id,
            "environment": "production",
            "usage_value": None,
            "recorded_at": now,
        }
        for ts in timestamps_ms
    ]
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(usage_events.insert(), rows[i : i + 5000])


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
