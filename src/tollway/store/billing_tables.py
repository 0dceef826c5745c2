"""Billing tables (Stripe mapping, webhook inbox, usage push windows, jobs).

They live on the shared ``tollway.store.tables.metadata``; the Alembic revision
``0002_billing`` creates them.
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

SID = 255  # Stripe ids are at most 255 characters

#: One row per organization: its Stripe account and keys (secrets encrypted).
stripe_accounts = Table(
    "stripe_accounts",
    metadata,
    Column(
        "organization_id",
        String(ID),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("account_id", String(SID), nullable=True),
    Column("livemode", Boolean, nullable=False),
    Column("key_kind", String(20), nullable=False),  # "secret" | "restricted"
    Column("secret_key_encrypted", Text, nullable=False),
    Column("secret_key_last4", String(4), nullable=False),
    Column("publishable_key", String(SID), nullable=False),
    Column("webhook_secret_encrypted", Text, nullable=False),
    Column("webhook_secret_last4", String(4), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: One Stripe customer per consumer account (per organization's Stripe account),
#: created once and reused.
billing_customers = Table(
    "billing_customers",
    metadata,
    Column("consumer_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "organization_id",
        String(ID),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("customer_id", String(SID), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: A paid plan enabled on an API, as provisioned in Stripe.
billing_plans = Table(
    "billing_plans",
    metadata,
    Column("api_id", String(ID), ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_id", String(ID), ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", String(SID), nullable=False),
    Column("flat_price_id", String(SID), nullable=True),
    Column("usage_price_id", String(SID), nullable=True),
    Column("meter_id", String(SID), nullable=True),
    Column("meter_event_name", String(100), nullable=True),
    Column("meter_key", String(100), nullable=True),
    Column("meter_aggregation", String(10), nullable=True),
    Column("pricing_hash", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: Every usage price of a provisioned plan: one provider meter and one metered price per
#: meter the plan prices (``billing_plans``' meter columns repeat the first one).
billing_plan_meters = Table(
    "billing_plan_meters",
    metadata,
    Column("api_id", String(ID), ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_id", String(ID), ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("meter_key", String(100), primary_key=True),
    Column("position", Integer, nullable=False),  # order in the plan's pricing
    Column("price_id", String(SID), nullable=False),
    Column("meter_id", String(SID), nullable=False),
    Column("meter_event_name", String(100), nullable=False),
    Column("meter_aggregation", String(10), nullable=False),
)

#: Every price Tollway created, so retired ones can still be recognised.
billing_prices = Table(
    "billing_prices",
    metadata,
    Column("price_id", String(SID), primary_key=True),
    Column("api_id", String(ID), nullable=False),
    Column("plan_id", String(ID), nullable=False),
    Column("component", String(10), nullable=False),  # "flat" | "usage"
    Column("lookup_key", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_billing_prices_plan", "api_id", "plan_id"),
)

#: The Stripe side of a Tollway subscription.
billing_subscriptions = Table(
    "billing_subscriptions",
    metadata,
    Column(
        "subscription_id",
        String(ID),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("consumer_id", String(ID), nullable=False, index=True),
    Column("customer_id", String(SID), nullable=False, index=True),
    Column("checkout_session_id", String(SID), nullable=True, unique=True),
    Column("checkout_url", Text, nullable=True),
    Column("checkout_attempt", Integer, nullable=False, default=0),
    Column("stripe_subscription_id", String(SID), nullable=True, unique=True),
    Column("stripe_status", String(30), nullable=True),
    Column("current_period_start", BigInteger, nullable=True),  # epoch seconds
    Column("current_period_end", BigInteger, nullable=True),
    Column("latest_invoice_id", String(SID), nullable=True),
    Column("past_due_since", UTCDateTime(), nullable=True),
    Column("activated_at", UTCDateTime(), nullable=True),
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: Received Stripe events, keyed by event id: a duplicate delivery is one row.
webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("event_id", String(SID), primary_key=True),
    Column("organization_id", String(ID), nullable=True),
    Column("type", String(100), nullable=False),
    Column("object_id", String(SID), nullable=True),
    Column("livemode", Boolean, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(20), nullable=False),  # received | processing | done | ignored | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("processed_at", UTCDateTime(), nullable=True),
    Column("result", Text, nullable=True),
    Index("ix_webhook_inbox_state", "state", "received_at"),
)

#: One meter event per (subscription, meter, window, sequence). The row is written as
#: ``pending`` with its value BEFORE the push, so a retry repeats the same identifier
#: with the same value and Stripe drops the duplicate.
usage_push_windows = Table(
    "usage_push_windows",
    metadata,
    Column("identifier", String(100), primary_key=True),
    Column("subscription_id", String(ID), nullable=False),
    Column("meter_key", String(100), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("timestamp_s", BigInteger, nullable=False),
    Column("event_name", String(100), nullable=False),
    Column("customer_id", String(SID), nullable=False),
    Column("state", String(10), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    UniqueConstraint(
        "subscription_id", "meter_key", "window_start_ms", "seq", name="uq_usage_push_windows_key"
    ),
    Index("ix_usage_push_windows_state", "state"),
)

#: Background jobs with a visible status (publish usage, reconcile).
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("state", String(20), nullable=False),  # queued | running | succeeded | failed
    Column("requested_by", String(ID), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("events", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("detail", JSON, nullable=True),
    Index("ix_jobs_kind_created", "kind", "created_at"),
)

#: Small key/value state of the billing workers (e.g. the usage sync watermark).
billing_state = Table(
    "billing_state",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Subscriptions whose access ended ahead of their cancellation: the gateways refuse
#: them while the final usage is cut (a row lives only during a cancel).
access_fences = Table(
    "access_fences",
    metadata,
    Column(
        "subscription_id",
        String(ID),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: Gateway processes and the configuration version each has applied — with everything
#: it admitted under older versions already in the usage ledger.
gateway_instances = Table(
    "gateway_instances",
    metadata,
    Column("instance_id", String(100), primary_key=True),
    Column("config_version", BigInteger, nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)
