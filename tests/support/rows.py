"""Row factories: the one way tests put rows in the database directly (without the REST
API), and usage events. Each factory writes in its own committed transaction and returns
what it made; ``seed_world`` builds the usual organization, consumer, published API, paid
(or free) plan and application in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from tollway.domain.ids import new_id
from tollway.metering.events import UsageEvent
from tollway.store import db
from tollway.store.ledger import SqlLedger
from tollway.store.tables import (
    api_plans,
    apis,
    applications,
    organizations,
    plans,
    subscriptions,
    users,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def _now() -> datetime:
    return datetime.now(UTC)


def usage_event(i: int = 0, **fields: Any) -> UsageEvent:
    """A 200 GET usage event ``ue_<i>`` at ``T0 + i`` ms; ``fields`` override any field
    (an int or str ``usage_value`` becomes a Decimal)."""
    values: dict[str, Any] = {
        "event_id": f"ue_{i:08d}",
        "timestamp_ms": T0 + i,
        "organization_id": "org_1",
        "api_id": "api_1",
        "operation_id": "op_get",
        "method": "GET",
        "status": 200,
        "latency_ms": 10,
        "request_bytes": 100,
        "response_bytes": 1000,
        "application_id": "app_1",
        "subscription_id": "sub_1",
        "credential_id": "key_1",
        "consumer_id": "user_1",
        "environment": "production",
        "usage_value": None,
    }
    values.update(fields)
    if isinstance(values["usage_value"], int | str):
        values["usage_value"] = Decimal(str(values["usage_value"]))
    return UsageEvent(**values)


def organization(engine: Engine) -> str:
    """The database's organization (the first one), made if there is none."""
    with db.transaction(engine) as conn:
        existing = conn.execute(select(organizations.c.id)).scalar()
        if existing:
            return str(existing)
        org_id = new_id("org")
        conn.execute(
            organizations.insert().values(
                id=org_id, name="Org", slug=f"o{org_id[-8:].lower()}", created_at=_now()
            )
        )
    return org_id


def user(engine: Engine, org_id: str, role: str) -> str:
    user_id = new_id("usr")
    with db.transaction(engine) as conn:
        conn.execute(
            users.insert().values(
                id=user_id,
                organization_id=org_id,
                email=f"{user_id.lower()}@example.com",
                name=role,
                role=role,
                password_hash=None,
                disabled=False,
                created_at=_now(),
            )
        )
    return user_id


def api(engine: Engine, org_id: str, *, lifecycle: str = "published") -> str:
    api_id = new_id("api")
    now = _now()
    with db.transaction(engine) as conn:
        conn.execute(
            apis.insert().values(
                id=api_id,
                organization_id=org_id,
                name="Reading List",
                context=f"rl{api_id[-6:].lower()}",
                version="v1",
                description="",
                lifecycle=lifecycle,
                usage_header=None,
                created_at=now,
                updated_at=now,
            )
        )
    return api_id


def plan(
    engine: Engine,
    org_id: str,
    api_id: str | None,
    pricing: dict[str, Any],
    *,
    name: str | None = None,
    currency: str = "USD",
    interval: str = "month",
) -> str:
    """A plan, enabled on ``api_id`` unless that is None."""
    now = _now()
    plan_id = new_id("plan")
    with db.transaction(engine) as conn:
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
        if api_id is not None:
            conn.execute(
                api_plans.insert().values(
                    api_id=api_id, plan_id=plan_id, enabled=True, created_at=now
                )
            )
    return plan_id


def application(engine: Engine, owner_id: str, *, name: str = "app") -> str:
    app_id = new_id("app")
    with db.transaction(engine) as conn:
        conn.execute(
            applications.insert().values(
                id=app_id,
                owner_id=owner_id,
                name=name,
                description="",
                token_lifetime_s=3600,
                created_at=_now(),
            )
        )
    return app_id


@dataclass
class World:
    org_id: str
    admin_id: str
    consumer_id: str
    api_id: str
    plan_id: str
    app_id: str
    webhook_secret: str | None = None


def seed_world(engine: Engine, pricing: dict[str, Any]) -> World:
    """An organization with an admin and a consumer, a published API with a plan of
    ``pricing`` enabled on it, and an application of the consumer."""
    org_id = organization(engine)
    admin_id, consumer_id = user(engine, org_id, "admin"), user(engine, org_id, "consumer")
    api_id = api(engine, org_id)
    plan_id = plan(engine, org_id, api_id, pricing, name="Pay-as-you-go")
    return World(org_id, admin_id, consumer_id, api_id, plan_id, application(engine, consumer_id))


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
    """Another plan enabled on the API."""
    return plan(engine, org_id, api_id, pricing, name=name, currency=currency, interval=interval)


def new_subscription(
    engine: Engine,
    w: World,
    state: str = "on_hold",
    plan_id: str | None = None,
    app_id: str | None = None,
) -> str:
    now = _now()
    sub_id = new_id("sub")
    with db.transaction(engine) as conn:
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


def insert_usage(
    engine: Engine, w: World, sub_id: str, timestamps_ms: list[int], status: int = 200
) -> None:
    """Ledger rows for the subscription, written by the gateway's ledger writer (which
    keeps the hourly rollup in step)."""
    SqlLedger(engine).write(
        [
            usage_event(
                event_id=new_id("ue"),
                timestamp_ms=ts,
                organization_id=w.org_id,
                api_id=w.api_id,
                operation_id=None,
                status=status,
                latency_ms=5,
                request_bytes=10,
                response_bytes=100,
                application_id=w.app_id,
                subscription_id=sub_id,
                consumer_id=w.consumer_id,
            )
            for ts in timestamps_ms
        ]
    )
