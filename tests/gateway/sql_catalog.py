"""Seeding and changing a catalog in the real tables (as the control plane would)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update

from tollway.security.apikeys import generate_api_key
from tollway.store import tables as t
from tollway.store.changes import bump


def seed(
    engine: Any,
    upstream_url: str,
    *,
    rate_limit: int | None = None,
    rate_unit: str | None = None,
    quota: int | None = None,
) -> str:
    now = datetime.now(UTC)
    key = generate_api_key("production")
    with engine.begin() as c:
        c.execute(insert(t.organizations).values(id="org_1", name="O", slug="o", created_at=now))
        c.execute(
            insert(t.users).values(
                id="usr_1",
                organization_id="org_1",
                email="c@x.io",
                name="C",
                role="consumer",
                created_at=now,
                disabled=False,
            )
        )
        c.execute(
            insert(t.apis).values(
                id="api_1",
                organization_id="org_1",
                name="Books",
                context="books",
                version="v1",
                description="",
                lifecycle="published",
                usage_header="X-Usage-Units",
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(
            insert(t.api_deployments).values(
                id="dep_1",
                api_id="api_1",
                environment="production",
                upstream_url=upstream_url + "/base",
                deployed_at=now,
            )
        )
        c.execute(
            insert(t.plans).values(
                id="plan_1",
                organization_id="org_1",
                name="P",
                description="",
                currency="usd",
                billing_interval="month",
                rate_limit_count=rate_limit,
                rate_limit_unit=rate_unit,
                quota_limit=quota,
                quota_mode="hard",
                pricing={},
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(
            insert(t.applications).values(
                id="app_1",
                owner_id="usr_1",
                name="A",
                description="",
                token_lifetime_s=3600,
                created_at=now,
            )
        )
        c.execute(
            insert(t.api_keys).values(
                id="key_1",
                application_id="app_1",
                environment="production",
                key_hash=key.hash,
                display_prefix=key.display_prefix,
                name="k",
                created_at=now,
            )
        )
        c.execute(
            insert(t.subscriptions).values(
                id="sub_1",
                application_id="app_1",
                api_id="api_1",
                plan_id="plan_1",
                consumer_id="usr_1",
                state="active",
                billing_anchor=now,
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(insert(t.config_version).values(id=1, version=1))
    return key.raw


def set_subscription_state(engine: Any, state: str) -> int:
    with engine.begin() as c:
        c.execute(
            update(t.subscriptions)
            .where(t.subscriptions.c.id == "sub_1")
            .values(state=state, updated_at=datetime.now(UTC))
        )
        return bump(c)


def revoke_key(engine: Any) -> int:
    with engine.begin() as c:
        c.execute(
            update(t.api_keys)
            .where(t.api_keys.c.id == "key_1")
            .values(revoked_at=datetime.now(UTC))
        )
        return bump(c)
