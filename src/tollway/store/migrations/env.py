"""Alembic environment: runs migrations on the engine handed over in the config attributes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import tollway.store.billing_tables
import tollway.store.notify_tables  # noqa: F401  (registers the alert and notification tables)
from tollway.store.tables import metadata

config = context.config
target_metadata = metadata


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
