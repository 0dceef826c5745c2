"""analytics: the ledger indexed by organization and time (publisher analytics)

Revision ID: 0018_analytics
Revises: 0017_plans_sell
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_analytics"
down_revision: str | None = "0020_several_meters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_usage_events_org_time", "usage_events", ["organization_id", "timestamp_ms"])


def downgrade() -> None:
    op.drop_index("ix_usage_events_org_time", table_name="usage_events")
