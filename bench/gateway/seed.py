"""Create a SQLite catalog for the gateway benchmark: one published API whose production
upstream is the benchmark nginx, one active subscription on a plan with a rate limit far
above the load, and one API key. Prints the raw key."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from sqlalchemy import insert

from tollway.security.apikeys import generate_api_key
from tollway.store import tables as t
from tollway.store.db import make_engine


def seed(database_url: str, upstream_url: str, *, rate_limit: int = 1_000_000_000) -> str:
    engine = make_engine(database_url)
    t.metadata.create_all(engine)
    now = datetime.now(UTC)
    key = generate_api_key("production")
    with engine.begin() as c:
        c.execute(
            insert(t.organizations).values(id="org_b", name="Bench", slug="bench", created_at=now)
        )
        c.execute(
            insert(t.users).values(
                id="usr_b",
                organization_id="org_b",
                email="b@example.com",
                name="B",
                role="consumer",
                password_hash=None,
                created_at=now,
                disabled=False,
            )
        )
        c.execute(
            insert(t.apis).values(
                id="api_b",
                organization_id="org_b",
                name="Bench",
                context="bench",
                version="v1",
                description="",
                lifecycle="published",
                usage_header=None,
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(
            insert(t.api_deployments).values(
                id="dep_b",
                api_id="api_b",
                environment="production",
                upstream_url=upstream_url,
                deployed_at=now,
            )
        )
        c.execute(
            insert(t.plans).values(
                id="plan_b",
                organization_id="org_b",
                name="Bench",
                description="",
                currency="usd",
                billing_interval="month",
                rate_limit_count=rate_limit,
                rate_limit_unit="second",
                quota_limit=None,
                quota_mode="overage",
                pricing={},
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(
            insert(t.applications).values(
                id="app_b",
                owner_id="usr_b",
                name="Bench",
                description="",
                token_lifetime_s=3600,
                created_at=now,
            )
        )
        c.execute(
            insert(t.api_keys).values(
                id="key_b",
                application_id="app_b",
                environment="production",
                key_hash=key.hash,
                display_prefix=key.display_prefix,
                name="bench",
                created_at=now,
            )
        )
        c.execute(
            insert(t.subscriptions).values(
                id="sub_b",
                application_id="app_b",
                api_id="api_b",
                plan_id="plan_b",
                consumer_id="usr_b",
                state="active",
                billing_anchor=now,
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(insert(t.config_version).values(id=1, version=1))
    engine.dispose()
    return key.raw


if __name__ == "__main__":
    print(seed(sys.argv[1], sys.argv[2]))
