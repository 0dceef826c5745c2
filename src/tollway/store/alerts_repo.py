"""Usage alerts (thresholds on a subscription's quota or budget) and their firings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from tollway.domain.errors import NotFound
from tollway.domain.ids import new_id
from tollway.store.notify_tables import alert_firings as f
from tollway.store.notify_tables import usage_alerts as a


def create(
    conn: Connection,
    *,
    subscription_id: str,
    metric: str,
    thresholds: list[int],
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    row = {
        "id": new_id("alr"),
        "subscription_id": subscription_id,
        "metric": metric,
        "thresholds": thresholds,
        "created_by": actor,
        "created_at": now,
    }
    conn.execute(insert(a).values(**row))
    return row


def of_subscription(conn: Connection, subscription_id: str) -> list[dict[str, Any]]:
    query = select(a).where(a.c.subscription_id == subscription_id).order_by(a.c.created_at)
    return [dict(r) for r in conn.execute(query).mappings()]


def remove(conn: Connection, subscription_id: str, alert_id: str) -> None:
    done = conn.execute(delete(a).where(a.c.id == alert_id, a.c.subscription_id == subscription_id))
    if not done.rowcount:
        raise NotFound(f"no alert '{alert_id}' on this subscription")


def every_alert(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(a).order_by(a.c.id)).mappings()]


def firings(conn: Connection, alert_id: str) -> list[dict[str, Any]]:
    query = select(f).where(f.c.alert_id == alert_id).order_by(f.c.fired_at, f.c.threshold)
    return [dict(r) for r in conn.execute(query).mappings()]


def fire_once(
    conn: Connection,
    alert_id: str,
    threshold: int,
    period_start_ms: int,
    value: str,
    now: datetime,
) -> bool:
    """Record that ``threshold`` fired this period; False when it already had (another
    worker, an earlier run): the unique key decides, inside a savepoint."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(f).values(
                    alert_id=alert_id,
                    threshold=threshold,
                    period_start_ms=period_start_ms,
                    value=value,
                    fired_at=now,
                )
            )
    except IntegrityError:
        return False
    return True
