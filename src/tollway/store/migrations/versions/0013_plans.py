"""plan changes of live subscriptions; default plans on sign-up; custom intervals;
trials; coupons

Revision ID: 0013_plans
Revises: 0003_live_subscription_unique
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.store.types

revision: str = "0013_plans"
down_revision: str | None = "0003_live_subscription_unique"
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
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("billing_interval_count", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("trial_days", sa.Integer(), nullable=True))
    op.create_table(
        "coupons",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("promotion_code", sa.String(length=100), nullable=True),
        sa.Column("stripe_coupon_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_promotion_code_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", tollway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_coupons_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
    )
    op.create_table(
        "subscription_coupons",
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("coupon_id", sa.String(length=40), nullable=False),
        sa.Column("redeemed_at", tollway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_subscription_coupons_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_coupons_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription_coupons")),
    )


def downgrade() -> None:
    op.drop_table("subscription_coupons")
    op.drop_table("coupons")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("trial_days")
        batch_op.drop_column("billing_interval_count")
    op.drop_table("api_default_plans")
    op.drop_index("ix_subscription_plan_changes_sub", table_name="subscription_plan_changes")
    op.drop_table("subscription_plan_changes")
