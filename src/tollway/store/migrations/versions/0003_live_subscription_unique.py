"""one live subscription per application and API, enforced by a partial unique index

Revision ID: 0003_live_subscription_unique
Revises: 0002_billing
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_live_subscription_unique"
down_revision: str | None = "0002_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "state IN ('on_hold', 'active', 'blocked')"


def upgrade() -> None:
    op.create_index(
        "uq_subscriptions_live_app_api",
        "subscriptions",
        ["application_id", "api_id"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_subscriptions_live_app_api", table_name="subscriptions")
