"""Create a SQLite catalog for the gateway benchmark: one published API (``/bench/v1``)
whose production upstream is the benchmark nginx, one active subscription on a plan with a
rate limit far above the load and no quota (``faults.py`` sets other limits), and one
API key. Prints the raw key.

Rows are written straight into the product's tables (``tollway.store.tables``), as the
control plane would leave them; nothing here comes from the test suite."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from sqlalchemy import insert

from tollway.security.apikeys import generate_api_key
from tollway.store import tables as t
from tollway.store.db import make_engine


def seed(
    database_url: str,
    upstream_url: str,
    *,
    rate_limit: int | None = 1_000_000_000,
    rate_unit: str = "second",
    quota: int | None = None,
) -> str:
    """The catalog; ``quota`` makes it a hard quota (the benchmark has none)."""
    engine = make_engine(database_url)
    t.metadata.create_all(engine)
    now = datetime.now(UTC)
    key = generate_api_key("production")
    rows = [
        (t.organizations, {"id": "org_1", "name": "Bench", "slug": "bench"}),
        (
            t.users,
            {
                "id": "usr_1",
                "organization_id": "org_1",
                "email": "bench@example.com",
                "name": "Bench",
                "role": "consumer",
                "disabled": False,
            },
        ),
        (
            t.applications,
            {
                "id": "app_1",
                "owner_id": "usr_1",
                "name": "Bench",
                "description": "",
                "token_lifetime_s": 3600,
            },
        ),
        (
            t.api_keys,
            {
                "id": "key_1",
                "application_id": "app_1",
                "environment": "production",
                "key_hash": key.hash,
                "display_prefix": key.display_prefix,
                "name": "bench",
            },
        ),
        (
            t.apis,
            {
                "id": "api_1",
                "organization_id": "org_1",
                "name": "Bench",
                "context": "bench",
                "version": "v1",
                "description": "",
                "lifecycle": "published",
                "usage_header": None,
                "updated_at": now,
            },
        ),
        (
            t.api_deployments,
            {
                "id": "dep_1",
                "api_id": "api_1",
                "environment": "production",
                "upstream_url": upstream_url,
                "deployed_at": now,
            },
        ),
        (
            t.plans,
            {
                "id": "plan_1",
                "organization_id": "org_1",
                "name": "Bench",
                "description": "",
                "currency": "usd",
                "billing_interval": "month",
                "rate_limit_count": rate_limit,
                "rate_limit_unit": rate_unit if rate_limit else None,
                "quota_limit": quota,
                "quota_mode": "hard" if quota else "overage",
                "pricing": {},
                "status": "active",
                "updated_at": now,
            },
        ),
        (
            t.subscriptions,
            {
                "id": "sub_1",
                "application_id": "app_1",
                "api_id": "api_1",
                "plan_id": "plan_1",
                "consumer_id": "usr_1",
                "state": "active",
                "billing_anchor": now,
                "updated_at": now,
            },
        ),
    ]
    try:
        with engine.begin() as c:
            for table, values in rows:
                if "created_at" in table.c:
                    values = {"created_at": now, **values}
                c.execute(insert(table).values(**values))
            c.execute(insert(t.config_version).values(id=1, version=1))
    finally:
        engine.dispose()
    return key.raw


if __name__ == "__main__":
    print(seed(sys.argv[1], sys.argv[2]))
