"""tax settings and plan versions: an organization's Stripe Tax setting; versions of a
plan's pricing and limits, their Stripe prices, and each subscription's version.
Existing plans become version 1, with their subscribers and Stripe prices.

Revision ID: 0019_tax_versions
Revises: 0017_plans_sell
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import tollway.store.types

revision: str = "0019_tax_versions"
down_revision: str | None = "0018_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMIT_COLUMNS = ("rate_limit_count", "rate_limit_unit", "quota_limit", "quota_mode")


def upgrade() -> None:
    op.create_table(
        "tax_settings",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("automatic_tax", sa.Boolean(), nullable=False),
        sa.Column("tax_id_collection", sa.Boolean(), nullable=False),
        sa.Column("billing_address_collection", sa.String(length=10), nullable=False),
        sa.Column("updated_at", tollway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tax_settings_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_tax_settings")),
    )
    versions = op.create_table(
        "plan_versions",
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pricing", sa.JSON(), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("existing_subscribers", sa.String(length=20), nullable=False),
        sa.Column("created_at", tollway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_versions_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("plan_id", "version", name=op.f("pk_plan_versions")),
    )
    prices = op.create_table(
        "plan_version_prices",
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("flat_price_id", sa.String(length=255), nullable=True),
        sa.Column("usage_price_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_id"],
            ["apis.id"],
            name=op.f("fk_plan_version_prices_api_id_apis"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_version_prices_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "api_id", "plan_id", "version", name=op.f("pk_plan_version_prices")
        ),
    )
    subs = op.create_table(
        "subscription_versions",
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_versions_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription_versions")),
    )
    _existing_become_version_1(versions, prices, subs)


def _existing_become_version_1(versions: sa.Table, prices: sa.Table, subs: sa.Table) -> None:
    conn = op.get_bind()
    plans = sa.table(
        "plans", sa.column("id"), sa.column("pricing", sa.JSON), *map(sa.column, LIMIT_COLUMNS)
    )
    now = datetime.now(UTC)
    rows = [
        {
            "plan_id": p.id,
            "version": 1,
            "pricing": p.pricing,
            "limits": {c: getattr(p, c) for c in LIMIT_COLUMNS},
            "existing_subscribers": "stay",
            "created_at": now,
        }
        for p in conn.execute(sa.select(plans))
    ]
    if rows:
        conn.execute(versions.insert(), rows)
    billed = sa.table(
        "billing_plans",
        sa.column("api_id"),
        sa.column("plan_id"),
        sa.column("flat_price_id"),
        sa.column("usage_price_id"),
    )
    conn.execute(
        prices.insert().from_select(
            ["api_id", "plan_id", "version", "flat_price_id", "usage_price_id"],
            sa.select(
                billed.c.api_id,
                billed.c.plan_id,
                sa.literal(1),
                billed.c.flat_price_id,
                billed.c.usage_price_id,
            ),
        )
    )
    subscriptions = sa.table("subscriptions", sa.column("id"), sa.column("plan_id"))
    conn.execute(
        subs.insert().from_select(
            ["subscription_id", "plan_id", "version"],
            sa.select(subscriptions.c.id, subscriptions.c.plan_id, sa.literal(1)),
        )
    )


def downgrade() -> None:
    op.drop_table("subscription_versions")
    op.drop_table("plan_version_prices")
    op.drop_table("plan_versions")
    op.drop_table("tax_settings")
