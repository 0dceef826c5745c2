"""The hourly rollup of the usage ledger (``usage_rollup_hourly``), kept in step with
``usage_events`` by the ledger writer (``store.usage_rollup``).

It lives on the shared ``tollway.store.tables.metadata``; the Alembic revision
``0018_analytics`` creates and backfills it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table

from tollway.store.tables import ID, metadata

#: Calls, errors and latency per UTC hour, organization, subscription, operation, API,
#: application and consumer. Every key part is NOT NULL (an event without an operation has
#: ``operation_id = ''``) so that one primary key serves ``ON CONFLICT`` on both databases.
usage_rollup_hourly = Table(
    "usage_rollup_hourly",
    metadata,
    Column("organization_id", String(ID), nullable=False),
    Column("hour_ms", BigInteger, nullable=False),  # the hour's start, ms since the epoch
    Column("subscription_id", String(ID), nullable=False),
    Column("operation_id", String(ID), nullable=False),  # '' for none
    Column("api_id", String(ID), nullable=False),
    Column("application_id", String(ID), nullable=False),
    Column("consumer_id", String(ID), nullable=False),
    Column("calls", BigInteger, nullable=False),
    Column("errors_4xx", BigInteger, nullable=False),
    Column("errors_5xx", BigInteger, nullable=False),
    Column("latency_ms_sum", BigInteger, nullable=False),
    Column("latency_ms_max", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "organization_id",
        "hour_ms",
        "subscription_id",
        "operation_id",
        "api_id",
        "application_id",
        "consumer_id",
    ),
)
