"""plan changes of live subscriptions; default plans on sign-up

Revision ID: 0013_plans
Revises: 0012_engine
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.store.types

revision: str = "0013_plans"
down_revision: str | None = "0012_engine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_plan_changes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("from_plan_id", sa.String(length=40), nullable=False),
        sa.Column("to_plan_id", sa.String(length=40), nullable=False),
        sa.Column("timing", sa.String(length=12), nullable=False),
        sa.Column("proration_behavior", sa.String(length=20), nullable=False),
        sa.Column("effective_at", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=True),
        sa.Column("created_at", tollway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_plan_changes_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_plan_changes")),
    )
    op.create_index(
        "ix_subscription_plan_changes_sub",
        "subscription_plan_changes",
        ["subscription_id", "effective_at"],
        unique=False,
    )
    op.create_table(
        "api_default_plans",
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("updated_at", tollway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"],
            ["apis.id"],
            name=op.f("fk_api_default_plans_api_id_apis"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_api_default_plans_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_id", name=op.f("pk_api_default_plans")),
    )


def downgrade() -> None:
    op.drop_table("api_default_plans")
    op.drop_index("ix_subscription_plan_changes_sub", table_name="subscription_plan_changes")
    op.drop_table("subscription_plan_changes")
