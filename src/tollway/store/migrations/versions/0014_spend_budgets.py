"""consumer budgets: a spend cap per subscription and billing period

Revision ID: 0014_spend_budgets
Revises: 0003_live_subscription_unique
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tollway.store.types import UTCDateTime

revision: str = "0014_spend_budgets"
down_revision: str | None = "0003_live_subscription_unique"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_budgets",
        sa.Column(
            "subscription_id",
            sa.String(length=40),
            sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("amount", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("set_by", sa.String(length=40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscription_budgets")
