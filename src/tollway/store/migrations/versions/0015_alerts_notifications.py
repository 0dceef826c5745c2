"""spend alerts and notifications: alert rules and firings, endpoints, deliveries

Revision ID: 0015_alerts_notifications
Revises: 0014_spend_budgets
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tollway.store.types import UTCDateTime

revision: str = "0015_alerts_notifications"
down_revision: str | None = "0014_spend_budgets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 40


def _fk(name: str, target: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        name, sa.String(ID), sa.ForeignKey(target, ondelete="CASCADE"), nullable=nullable
    )


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "usage_alerts",
        sa.Column("id", sa.String(ID), primary_key=True),
        _fk("subscription_id", "subscriptions.id"),
        sa.Column("metric", sa.String(10), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        _fk("created_by", "users.id"),
        _at("created_at"),
    )
    op.create_index("ix_usage_alerts_subscription_id", "usage_alerts", ["subscription_id"])
    op.create_index("ix_usage_alerts_created_by", "usage_alerts", ["created_by"])
    op.create_table(
        "alert_firings",
        _fk("alert_id", "usage_alerts.id"),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("period_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.String(40), nullable=False),
        _at("fired_at"),
        sa.UniqueConstraint(
            "alert_id", "threshold", "period_start_ms", name="uq_alert_firings_once"
        ),
    )
    op.create_index("ix_alert_firings_alert_id", "alert_firings", ["alert_id"])
    op.create_table(
        "notification_endpoints",
        sa.Column("id", sa.String(ID), primary_key=True),
        _fk("owner_id", "users.id"),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _at("created_at"),
    )
    op.create_index("ix_notification_endpoints_owner_id", "notification_endpoints", ["owner_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(ID), primary_key=True),
        _fk("owner_id", "users.id"),
        sa.Column("type", sa.String(60), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _at("created_at"),
    )
    op.create_index("ix_notifications_owner_id", "notifications", ["owner_id"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.String(ID), primary_key=True),
        _fk("notification_id", "notifications.id"),
        _fk("endpoint_id", "notification_endpoints.id", nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_attempt_at", nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("delivered_at", nullable=True),
        _at("created_at"),
    )
    op.create_index(
        "ix_notification_deliveries_notification_id",
        "notification_deliveries",
        ["notification_id"],
    )
    op.create_index(
        "ix_notification_deliveries_endpoint_id", "notification_deliveries", ["endpoint_id"]
    )
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    for table in (
        "notification_deliveries",
        "notifications",
        "notification_endpoints",
        "alert_firings",
        "usage_alerts",
    ):
        op.drop_table(table)
