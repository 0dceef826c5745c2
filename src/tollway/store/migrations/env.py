"""Alembic environment: runs migrations on the engine handed over in the config attributes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from tollway.store import (
    billing_tables,
    coupons_repo,
    default_plans_repo,
    notify_tables,
    plan_changes_repo,
    rollup_tables,
    selling_tables,
)
from tollway.store.tables import metadata

config = context.config
target_metadata = metadata
# the billing and plan-change tables register themselves on the shared metadata
assert billing_tables.billing_plans.metadata is metadata
assert plan_changes_repo.subscription_plan_changes.metadata is metadata
assert default_plans_repo.api_default_plans.metadata is metadata
assert coupons_repo.subscription_coupons.metadata is metadata
assert notify_tables.usage_alerts.metadata is metadata
assert selling_tables.plan_versions.metadata is metadata
assert rollup_tables.usage_rollup_hourly.metadata is metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `tollway migrate`")
run_migrations_online()
