"""Notification endpoints, notifications and their deliveries (an outbox).

``emit`` writes a notification and one pending delivery per channel in the caller's
transaction, so a notification exists exactly when the change it reports committed; the
notification worker sends what is due (``due``) and records each attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tollway.domain.errors import NotFound
from tollway.domain.ids import new_id
from tollway.store.notify_tables import (
    notification_deliveries as d,
)
from tollway.store.notify_tables import (
    notification_endpoints as e,
)
from tollway.store.notify_tables import (
    notifications as n,
)
from tollway.store.tables import users

ENDPOINT_COLUMNS = (e.c.id, e.c.owner_id, e.c.url, e.c.events, e.c.disabled, e.c.created_at)


def create_endpoint(
    conn: Connection,
    *,
    owner_id: str,
    url: str,
    secret_encrypted: str,
    events: list[str] | None,
    now: datetime,
) -> dict[str, Any]:
    row = {
        "id": new_id("nep"),
        "owner_id": owner_id,
        "url": url,
        "secret": secret_encrypted,
        "events": events,
        "disabled": False,
        "created_at": now,
    }
    conn.execute(insert(e).values(**row))
    return {k: v for k, v in row.items() if k != "secret"}


def endpoints_of(conn: Connection, owner_id: str) -> list[dict[str, Any]]:
    query = select(*ENDPOINT_COLUMNS).where(e.c.owner_id == owner_id).order_by(e.c.created_at)
    return [dict(r) for r in conn.execute(query).mappings()]


def endpoint_of(conn: Connection, owner_id: str, endpoint_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            select(*ENDPOINT_COLUMNS).where(e.c.id == endpoint_id, e.c.owner_id == owner_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no notification endpoint '{endpoint_id}'")
    return dict(row)


def delete_endpoint(conn: Connection, owner_id: str, endpoint_id: str) -> None:
    endpoint_of(conn, owner_id, endpoint_id)
    conn.execute(delete(e).where(e.c.id == endpoint_id))


def emit(conn: Connection, owner_id: str, type_: str, data: dict[str, Any], now: datetime) -> str:
    """A notification for ``owner_id`` with a pending delivery to each of their enabled
    endpoints that takes ``type_`` and one by email. Returns the notification id."""
    note_id = new_id("evt")
    conn.execute(
        insert(n).values(id=note_id, owner_id=owner_id, type=type_, data=data, created_at=now)
    )
    rows: list[dict[str, Any]] = []
    for ep in conn.execute(
        select(e.c.id, e.c.url, e.c.events).where(e.c.owner_id == owner_id, e.c.disabled.is_(False))
    ):
        if ep.events is None or type_ in ep.events:
            rows.append({"endpoint_id": ep.id, "channel": "webhook", "address": ep.url})
    email = conn.execute(select(users.c.email).where(users.c.id == owner_id)).scalar()
    if email:
        rows.append({"endpoint_id": None, "channel": "email", "address": email})
    for row in rows:
        conn.execute(
            insert(d).values(
                id=new_id("ndl"),
                notification_id=note_id,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                **row,
            )
        )
    return note_id


def notifications_of(conn: Connection, owner_id: str, limit: int = 50) -> list[dict[str, Any]]:
    query = (
        select(n).where(n.c.owner_id == owner_id).order_by(n.c.created_at.desc(), n.c.id.desc())
    ).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


DELIVERY_COLUMNS = (
    d.c.id,
    d.c.notification_id,
    d.c.endpoint_id,
    d.c.channel,
    d.c.address,
    d.c.status,
    d.c.attempts,
    d.c.next_attempt_at,
    d.c.last_status,
    d.c.last_error,
    d.c.delivered_at,
    d.c.created_at,
    n.c.type,
)


def deliveries_of(
    conn: Connection, owner_id: str, *, endpoint_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = (
        select(*DELIVERY_COLUMNS)
        .join(n, n.c.id == d.c.notification_id)
        .where(n.c.owner_id == owner_id)
        .order_by(d.c.created_at.desc(), d.c.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        query = query.where(d.c.endpoint_id == endpoint_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def due(conn: Connection, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Pending deliveries whose time has come, with the notification and the endpoint's
    encrypted secret."""
    query = (
        select(
            *DELIVERY_COLUMNS,
            n.c.owner_id,
            n.c.data,
            n.c.created_at.label("event_created"),
            e.c.secret,
        )
        .join(n, n.c.id == d.c.notification_id)
        .outerjoin(e, e.c.id == d.c.endpoint_id)
        .where(d.c.status == "pending", d.c.next_attempt_at <= now)
        .order_by(d.c.next_attempt_at, d.c.id)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def record_attempt(
    conn: Connection,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime | None,
    last_status: int | None,
    last_error: str | None,
    delivered_at: datetime | None,
) -> None:
    conn.execute(
        update(d)
        .where(d.c.id == delivery_id)
        .values(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_status=last_status,
            last_error=last_error,
            delivered_at=delivered_at,
        )
    )


def replay(conn: Connection, owner_id: str, delivery_id: str, now: datetime) -> dict[str, Any]:
    """Send a delivery again (whatever its outcome so far): pending, due now."""
    found = conn.execute(
        select(d.c.id)
        .join(n, n.c.id == d.c.notification_id)
        .where(d.c.id == delivery_id, n.c.owner_id == owner_id)
    ).first()
    if found is None:
        raise NotFound(f"no delivery '{delivery_id}'")
    conn.execute(
        update(d).where(d.c.id == delivery_id).values(status="pending", next_attempt_at=now)
    )
    return delivery(conn, delivery_id)


def delivery(conn: Connection, delivery_id: str) -> dict[str, Any]:
    query = select(*DELIVERY_COLUMNS).join(n, n.c.id == d.c.notification_id)
    return dict(conn.execute(query.where(d.c.id == delivery_id)).mappings().one())
