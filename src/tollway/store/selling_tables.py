"""Tables of selling plans: an organization's tax setting, the versions of a plan's
pricing and limits, the Stripe prices of each version, and the version each
subscription is billed on. The Alembic revision ``0019_tax_versions`` creates them."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table

from tollway.store.tables import ID, metadata
from tollway.store.types import UTCDateTime

SID = 255  # Stripe ids are at most 255 characters

#: One row per organization that has set its tax preferences (none = no Stripe Tax).
tax_settings = Table(
    "tax_settings",
    metadata,
    Column(
        "organization_id",
        String(ID),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("automatic_tax", Boolean, nullable=False),
    Column("tax_id_collection", Boolean, nullable=False),
    Column("billing_address_collection", String(10), nullable=False),  # auto | required
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: Version N of a plan: the pricing and limits subscribers on it are billed and held to.
plan_versions = Table(
    "plan_versions",
    metadata,
    Column("plan_id", String(ID), ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("pricing", JSON, nullable=False),
    Column("limits", JSON, nullable=False),  # rate_limit_count/unit, quota_limit/mode
    # what happened to subscribers of older versions when this one was published:
    # "stay" (grandfathered) | "move_at_renewal"
    Column("existing_subscribers", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: The Stripe prices of each version of a plan on an API.
plan_version_prices = Table(
    "plan_version_prices",
    metadata,
    Column("api_id", String(ID), ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_id", String(ID), ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("flat_price_id", String(SID), nullable=True),
    Column("usage_price_id", String(SID), nullable=True),
)

#: The plan version a subscription is on, and the one it moves to at its next renewal.
#: A row for another plan than the subscription's (it changed plan since) or no row at
#: all: the plan's latest version.
subscription_versions = Table(
    "subscription_versions",
    metadata,
    Column(
        "subscription_id",
        String(ID),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("plan_id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("next_version", Integer, nullable=True),
)
