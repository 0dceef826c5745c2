"""prepaid credits: credit plans, accounts, the append-only credit ledger, purchases

Revision ID: 0016_prepaid_credits
Revises: 0015_alerts_notifications
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tollway.store.types import UTCDateTime

revision: str = "0016_prepaid_credits"
down_revision: str | None = "0015_alerts_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 40


def _fk(name: str, target: str, *, primary_key: bool = False) -> sa.Column[str]:
    fk = sa.ForeignKey(target, ondelete="CASCADE")
    return sa.Column(name, sa.String(ID), fk, primary_key=primary_key, nullable=False)


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "credit_plans",
        _fk("plan_id", "plans.id", primary_key=True),
        sa.Column("packs", sa.JSON(), nullable=False),
        _at("created_at"),
    )
    op.create_table(
        "credit_accounts",
        _fk("subscription_id", "subscriptions.id", primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("auto_topup_below", sa.String(32), nullable=True),
        sa.Column("auto_topup_amount", sa.String(32), nullable=True),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("topups", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("updated_at"),
    )
    op.create_table(
        "credit_entries",
        sa.Column("id", sa.String(ID), primary_key=True),
        _fk("subscription_id", "subscriptions.id"),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("amount", sa.String(32), nullable=False),
        sa.Column("calls_to", sa.BigInteger(), nullable=True),
        sa.Column("reference", sa.String(255), nullable=False),
        _at("created_at"),
        sa.UniqueConstraint("reference", name="uq_credit_entries_reference"),
    )
    op.create_index("ix_credit_entries_subscription_id", "credit_entries", ["subscription_id"])
    op.create_table(
        "credit_purchases",
        sa.Column("session_id", sa.String(255), primary_key=True),
        _fk("subscription_id", "subscriptions.id"),
        sa.Column("amount", sa.String(32), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("checkout_url", sa.Text(), nullable=False),
        _at("created_at"),
    )
    op.create_index("ix_credit_purchases_subscription_id", "credit_purchases", ["subscription_id"])


def downgrade() -> None:
    for table in ("credit_purchases", "credit_entries", "credit_accounts", "credit_plans"):
        op.drop_table(table)
