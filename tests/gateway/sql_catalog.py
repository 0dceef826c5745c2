"""Seeding and changing a catalog in the real tables (as the control plane would)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update

from tollway.security.apikeys import GeneratedApiKey, generate_api_key
from tollway.store import tables as t
from tollway.store.changes import bump


def seed_consumer(c: Any, now: datetime, key: GeneratedApiKey) -> None:
    """Organization org_1, consumer usr_1, application app_1 and its production key key_1."""
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


def seed(
    engine: Any,
    upstream_url: str,
    *,
    rate_limit: int | None = None,
    rate_unit: str | None = None,
    quota: int | None = None,
    quota_mode: str = "hard",
    context: str = "books",
    usage_header: str | None = "X-Usage-Units",
    base_path: str = "/base",
) -> str:
    """The consumer of :func:`seed_consumer` with an active subscription (sub_1, plan_1) to
    API api_1 (``/{context}/v1``, production upstream ``upstream_url + base_path``).
    Returns the raw API key."""
    now = datetime.now(UTC)
    key = generate_api_key("production")
    with engine.begin() as c:
        seed_consumer(c, now, key)
        c.execute(
            insert(t.apis).values(
                id="api_1",
                organization_id="org_1",
                name="Books",
                context=context,
                version="v1",
                description="",
                lifecycle="published",
                usage_header=usage_header,
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(
            insert(t.api_deployments).values(
                id="dep_1",
                api_id="api_1",
                environment="production",
                upstream_url=upstream_url + base_path,
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
                quota_mode=quota_mode,
                pricing={},
                status="active",
                created_at=now,
                updated_at=now,
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
