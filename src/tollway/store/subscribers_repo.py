"""The publisher's view of subscriptions: who subscribed, with names, and the calls the
built-in meter counts in a period (from the usage ledger)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from tollway.domain.principal import Principal
from tollway.store.subscriptions_repo import visible
from tollway.store.tables import apis, applications, plans, subscriptions, usage_events, users


def subscribers(
    conn: Connection, principal: Principal, limit: int = 200, subscription_id: str | None = None
) -> list[dict[str, Any]]:
    """The subscriptions the caller may see, newest first, with ``api_name``,
    ``plan_name``, ``consumer_email`` and ``application_name``."""
    q = (
        select(
            subscriptions,
            apis.c.name.label("api_name"),
            plans.c.name.label("plan_name"),
            users.c.email.label("consumer_email"),
            applications.c.name.label("application_name"),
        )
        .join(apis, apis.c.id == subscriptions.c.api_id)
        .join(plans, plans.c.id == subscriptions.c.plan_id)
        .join(users, users.c.id == subscriptions.c.consumer_id)
        .join(applications, applications.c.id == subscriptions.c.application_id)
        .where(visible(principal))
        .order_by(subscriptions.c.id.desc())
        .limit(limit)
    )
    if subscription_id is not None:
        q = q.where(subscriptions.c.id == subscription_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def billable_calls(conn: Connection, subscription_id: str, start_ms: int, end_ms: int) -> int:
    """Successful (2xx) calls of the subscription in ``[start_ms, end_ms)``: what the
    built-in meter counts."""
    q = (
        select(func.count())
        .select_from(usage_events)
        .where(
            usage_events.c.subscription_id == subscription_id,
            usage_events.c.timestamp_ms >= start_ms,
            usage_events.c.timestamp_ms < end_ms,
            usage_events.c.status >= 200,
            usage_events.c.status < 300,
        )
    )
    return int(conn.execute(q).scalar_one())
