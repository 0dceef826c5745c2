"""access fences and gateway instances: access ends (and the gateways say so) before a
cancelled subscription's final usage is pushed

Revision ID: 0012_engine
Revises: 0010_portal
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tollway.store.types import UTCDateTime

revision: str = "0012_engine"
down_revision: str | None = "0010_portal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_fences",
        sa.Column(
            "subscription_id",
            sa.String(40),
            sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "gateway_instances",
        sa.Column("instance_id", sa.String(100), primary_key=True),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_instances")
    op.drop_table("access_fences")
