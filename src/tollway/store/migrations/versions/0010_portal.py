"""developer portal: an API's stored OpenAPI document and tags

Revision ID: 0010_portal
Revises: 0016_prepaid_credits
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tollway.store.types import UTCDateTime

revision: str = "0010_portal"
down_revision: str | None = "0016_prepaid_credits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_documents",
        sa.Column(
            "api_id",
            sa.String(40),
            sa.ForeignKey("apis.id", ondelete="CASCADE", name="fk_api_documents_api_id_apis"),
            nullable=False,
        ),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("stored_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("api_id", name="pk_api_documents"),
    )


def downgrade() -> None:
    op.drop_table("api_documents")
