"""The webhook inbox: verified events stored by event id before anything else happens.

* ``record`` inserts the event; the primary key on ``event_id`` makes a duplicate
  delivery — even two at the same instant — a no-op (``INSERT ... ON CONFLICT DO
  NOTHING``), so only one row ever exists and it is applied once.
* ``claim`` hands a row to exactly one worker (compare-and-set on ``state``, with a
  lease so a crashed worker's row is picked up again).
* ``finish`` records the outcome: ``done``, ``ignored`` (unknown or foreign events,
  acknowledged and logged) or back to ``received`` for a retry (``failed`` after
  ``MAX_ATTEMPTS``), each retry after an exponential back-off.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tollway.store import db as store_db
from tollway.store.billing_tables import webhook_inbox

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 12  # with the back-off: retried for about six hours


def _insert(conn: Connection, values: dict[str, Any]) -> int:
    # RETURNING tells reliably whether this statement inserted the row (rowcount of
    # INSERT ... ON CONFLICT DO NOTHING is not dependable across drivers).
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(webhook_inbox).values(**values).on_conflict_do_nothing()
        return len(conn.execute(pg.returning(webhook_inbox.c.event_id)).fetchall())
    if conn.dialect.name == "sqlite":
        lite = sqlite.insert(webhook_inbox).values(**values).on_conflict_do_nothing()
        return len(conn.execute(lite.returning(webhook_inbox.c.event_id)).fetchall())
    exists = conn.execute(
        select(webhook_inbox.c.event_id).where(webhook_inbox.c.event_id == values["event_id"])
    ).first()
    if exists:
        return 0
    return conn.execute(webhook_inbox.insert().values(**values)).rowcount


def _due(now: datetime) -> Any:
    """Rows to (re)process: received and not waiting for a retry, or a lease expired."""
    return or_(
        and_(
            webhook_inbox.c.state == "received",
            or_(webhook_inbox.c.locked_until.is_(None), webhook_inbox.c.locked_until < now),
        ),
        and_(webhook_inbox.c.state == "processing", webhook_inbox.c.locked_until < now),
    )


def retry_delay(attempts: int) -> timedelta:
    """Back-off between attempts: 5 s, 10 s, 20 s, … capped at one hour."""
    return timedelta(seconds=min(3600, 5 * 2 ** max(0, attempts - 1)))


def record(db: Engine, event: dict[str, Any], organization_id: str | None, now: datetime) -> bool:
    """Store a verified event; True if it is new, False for a duplicate delivery."""
    obj = (event.get("data") or {}).get("object") or {}
    values = {
        "event_id": str(event["id"]),
        "organization_id": organization_id,
        "type": str(event.get("type") or ""),
        "object_id": obj.get("id") if isinstance(obj, dict) else None,
        "livemode": bool(event.get("livemode", False)),
        "payload": event,
        "state": "received",
        "attempts": 0,
        "received_at": now,
    }
    with db.begin() as conn:
        return _insert(conn, values) == 1


def claim(db: Engine, event_id: str, now: datetime) -> dict[str, Any] | None:
    """Take the event for processing; None if another worker has it or it is finished."""
    with db.begin() as conn:
        got = conn.execute(
            update(webhook_inbox)
            .where(
                webhook_inbox.c.event_id == event_id,
                _due(now),
            )
            .values(
                state="processing",
                locked_until=now + LEASE,
                attempts=webhook_inbox.c.attempts + 1,
            )
        ).rowcount
        if got != 1:
            return None
        row = conn.execute(select(webhook_inbox).where(webhook_inbox.c.event_id == event_id)).one()
    return dict(row._mapping)


def pending(db: Engine, now: datetime, limit: int = 100) -> list[str]:
    with store_db.transaction(db, read_only=True) as conn:
        rows = conn.execute(
            select(webhook_inbox.c.event_id)
            .where(_due(now))
            .order_by(webhook_inbox.c.received_at)
            .limit(limit)
        ).fetchall()
    return [r.event_id for r in rows]


def finish(
    db: Engine, event_id: str, state: str, result: str, now: datetime, attempts: int = 1
) -> None:
    retry_at = None
    if state == "retry":
        state = "failed" if attempts >= MAX_ATTEMPTS else "received"
        retry_at = now + retry_delay(attempts) if state == "received" else None
    with db.begin() as conn:
        conn.execute(
            update(webhook_inbox)
            .where(webhook_inbox.c.event_id == event_id)
            .values(
                state=state,
                result=result[:2000],
                locked_until=retry_at,
                processed_at=now if state in ("done", "ignored", "failed") else None,
            )
        )


def get(db: Engine, event_id: str) -> dict[str, Any] | None:
    with store_db.transaction(db, read_only=True) as conn:
        row = conn.execute(
            select(webhook_inbox).where(webhook_inbox.c.event_id == event_id)
        ).first()
    return None if row is None else dict(row._mapping)


def recent(conn: Connection, organization_id: str | None, limit: int = 20) -> list[dict[str, Any]]:
    """The organization's latest received events (all organizations' for ``None``),
    newest first, without their payloads."""
    cols = [c for c in webhook_inbox.c if c.name not in ("payload", "locked_until")]
    q = select(*cols).order_by(webhook_inbox.c.received_at.desc()).limit(limit)
    if organization_id is not None:
        q = q.where(webhook_inbox.c.organization_id == organization_id)
    return [dict(r._mapping) for r in conn.execute(q)]


def requeue(conn: Connection, event_id: str, organization_id: str | None) -> bool:
    """Put a failed event back to be applied again (fresh attempts); only the
    organization's own (any for ``None``). Whether a failed event was requeued."""
    q = update(webhook_inbox).where(
        webhook_inbox.c.event_id == event_id, webhook_inbox.c.state == "failed"
    )
    if organization_id is not None:
        q = q.where(webhook_inbox.c.organization_id == organization_id)
    values = {"state": "received", "attempts": 0, "locked_until": None, "processed_at": None}
    return bool(conn.execute(q.values(**values)).rowcount)
