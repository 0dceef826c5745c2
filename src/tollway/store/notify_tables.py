"""Spend alerts and notifications: alert rules and their firings, notification endpoints
(signed outbound webhooks), the notifications themselves and their deliveries (webhook
and email), an outbox a worker empties with retries.

They live on the shared ``tollway.store.tables.metadata``; the Alembic revision
``0015_alerts_notifications`` creates them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tollway.store.tables import ID, metadata
from tollway.store.types import UTCDateTime


def _fk(name: str, target: str, *, nullable: bool = False) -> Column[str]:
    return Column(
        name, String(ID), ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=True
    )


#: Thresholds (percent) on a subscription's quota or budget; each fires once per period.
usage_alerts = Table(
    "usage_alerts",
    metadata,
    Column("id", String(ID), primary_key=True),
    _fk("subscription_id", "subscriptions.id"),
    Column("metric", String(10), nullable=False),  # "quota" | "budget"
    Column("thresholds", JSON, nullable=False),  # ascending percents, e.g. [50, 80, 100]
    _fk("created_by", "users.id"),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: One row per alert, threshold and billing period: the unique key is what makes an
#: alert fire exactly once per period, whatever the number of workers.
alert_firings = Table(
    "alert_firings",
    metadata,
    _fk("alert_id", "usage_alerts.id"),
    Column("threshold", Integer, nullable=False),
    Column("period_start_ms", BigInteger, nullable=False),
    Column("value", String(40), nullable=False),  # usage or spend when it fired
    Column("fired_at", UTCDateTime(), nullable=False),
    UniqueConstraint("alert_id", "threshold", "period_start_ms", name="uq_alert_firings_once"),
)

#: A URL a user registered to receive signed notification webhooks.
notification_endpoints = Table(
    "notification_endpoints",
    metadata,
    Column("id", String(ID), primary_key=True),
    _fk("owner_id", "users.id"),
    Column("url", String(2000), nullable=False),
    Column("secret", Text, nullable=False),  # encrypted (SecretBox)
    Column("events", JSON, nullable=True),  # event types; null = every event
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: An event for a user (the payload every channel delivers).
notifications = Table(
    "notifications",
    metadata,
    Column("id", String(ID), primary_key=True),
    _fk("owner_id", "users.id"),
    Column("type", String(60), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: One delivery of a notification over one channel: a webhook endpoint or email.
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", String(ID), primary_key=True),
    _fk("notification_id", "notifications.id"),
    _fk("endpoint_id", "notification_endpoints.id", nullable=True),  # null: email
    Column("channel", String(10), nullable=False),  # "webhook" | "email"
    Column("address", String(2000), nullable=False),  # URL or email address
    Column("status", String(10), nullable=False),  # "pending" | "delivered" | "failed"
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index(
    "ix_notification_deliveries_due",
    notification_deliveries.c.status,
    notification_deliveries.c.next_attempt_at,
)
