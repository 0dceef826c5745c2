"""analytics: the ledger indexed by organization and time, and its hourly rollup
(publisher analytics)

Revision ID: 0018_analytics
Revises: 0017_plans_sell
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tollway.store.usage_rollup import REBUILD_SQL

revision: str = "0018_analytics"
down_revision: str | None = "0020_several_meters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = (
    "organization_id",
    "hour_ms",
    "subscription_id",
    "operation_id",
    "api_id",
    "application_id",
    "consumer_id",
)


def upgrade() -> None:
    op.create_index("ix_usage_events_org_time", "usage_events", ["organization_id", "timestamp_ms"])
    op.create_table(
        "usage_rollup_hourly",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("operation_id", sa.String(length=40), nullable=False),
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("consumer_id", sa.String(length=40), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("errors_4xx", sa.BigInteger(), nullable=False),
        sa.Column("errors_5xx", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_sum", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_max", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_usage_rollup_hourly")),
    )
    op.execute(REBUILD_SQL)  # the events already in the ledger


def downgrade() -> None:
    op.drop_table("usage_rollup_hourly")
    op.drop_index("ix_usage_events_org_time", table_name="usage_events")
