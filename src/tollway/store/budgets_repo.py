"""Consumer budgets: one spend cap per subscription (``subscription_budgets``).

Every change bumps the config version, so gateways pick the new cap up at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tollway.store import changes
from tollway.store.tables import subscription_budgets as b


def get(conn: Connection, subscription_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(b).where(b.c.subscription_id == subscription_id)).mappings().first()
    return None if row is None else dict(row)


def put(
    conn: Connection,
    subscription_id: str,
    *,
    amount: str,
    currency: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    values = {"amount": amount, "currency": currency, "set_by": actor, "updated_at": now}
    done = conn.execute(update(b).where(b.c.subscription_id == subscription_id).values(**values))
    if not done.rowcount:
        conn.execute(insert(b).values(subscription_id=subscription_id, **values))
    changes.bump(conn)
    return {"subscription_id": subscription_id, **values}


def remove(conn: Connection, subscription_id: str) -> bool:
    done = conn.execute(delete(b).where(b.c.subscription_id == subscription_id))
    if done.rowcount:
        changes.bump(conn)
    return bool(done.rowcount)


def all_budgets(conn: Connection) -> list[dict[str, Any]]:
    """Every budget (for the gateway's snapshot)."""
    return [dict(r) for r in conn.execute(select(b)).mappings()]
