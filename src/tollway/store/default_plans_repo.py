"""Default plans on sign-up: an API may name one free plan that every new application is
subscribed to (the ``api_default_plans`` table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Connection, ForeignKey, String, Table, delete, select

from tollway.store.tables import ID, apis, metadata
from tollway.store.types import UTCDateTime

api_default_plans = Table(
    "api_default_plans",
    metadata,
    Column("api_id", String(ID), ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_id", String(ID), ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)


def get(conn: Connection, api_id: str) -> str | None:
    found = conn.execute(
        select(api_default_plans.c.plan_id).where(api_default_plans.c.api_id == api_id)
    ).scalar()
    return None if found is None else str(found)


def put(conn: Connection, api_id: str, plan_id: str | None, now: datetime) -> None:
    """Set (or with None, clear) the API's default plan."""
    conn.execute(delete(api_default_plans).where(api_default_plans.c.api_id == api_id))
    if plan_id is not None:
        conn.execute(
            api_default_plans.insert().values(api_id=api_id, plan_id=plan_id, updated_at=now)
        )


def in_lifecycle(conn: Connection, lifecycles: frozenset[str]) -> list[tuple[str, str]]:
    """(API, default plan) for every API in one of ``lifecycles``, by API id."""
    rows = conn.execute(
        select(api_default_plans.c.api_id, api_default_plans.c.plan_id)
        .join(apis, apis.c.id == api_default_plans.c.api_id)
        .where(apis.c.lifecycle.in_(sorted(lifecycles)))
        .order_by(api_default_plans.c.api_id)
    )
    return [(str(r[0]), str(r[1])) for r in rows]
