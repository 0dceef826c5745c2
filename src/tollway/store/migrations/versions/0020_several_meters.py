"""several metered prices per plan: one provider meter and price per usage price

Revision ID: 0020_several_meters
Revises: 0017_plans_sell
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_several_meters"
down_revision: str | None = "0017_plans_sell"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_plan_meters",
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("meter_key", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("price_id", sa.String(length=255), nullable=False),
        sa.Column("meter_id", sa.String(length=255), nullable=False),
        sa.Column("meter_event_name", sa.String(length=100), nullable=False),
        sa.Column("meter_aggregation", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"],
            ["apis.id"],
            name=op.f("fk_billing_plan_meters_api_id_apis"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_billing_plan_meters_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "api_id", "plan_id", "meter_key", name=op.f("pk_billing_plan_meters")
        ),
    )
    # The plans provisioned so far bill one meter: it is their first usage price.
    op.execute(
        "INSERT INTO billing_plan_meters (api_id, plan_id, meter_key, position, price_id,"
        " meter_id, meter_event_name, meter_aggregation)"
        " SELECT api_id, plan_id, meter_key, 0, usage_price_id, meter_id, meter_event_name,"
        " COALESCE(meter_aggregation, 'sum') FROM billing_plans"
        " WHERE usage_price_id IS NOT NULL AND meter_id IS NOT NULL"
        " AND meter_event_name IS NOT NULL AND meter_key IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("billing_plan_meters")
