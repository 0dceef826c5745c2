"""plans that sell: custom billing intervals, trials, coupons and promotion codes

Revision ID: 0017_plans_sell
Revises: 0013_plans
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.store.types

revision: str = "0017_plans_sell"
down_revision: str | None = "0013_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
