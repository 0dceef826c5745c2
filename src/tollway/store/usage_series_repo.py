"""Usage time series from the ledger: calls per time bucket and status class, counted
in SQL (one row per bucket and class, however many calls)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from tollway.store.tables import usage_events


def calls_by_bucket(
    conn: Connection, subscription_id: str, start_ms: int, end_ms: int, step_ms: int
) -> list[tuple[int, str, int]]:
    """``(bucket start ms, "2xx"/"4xx"/…, calls)`` for ``start_ms <= t < end_ms``."""
    ts = usage_events.c.timestamp_ms
    bucket = (ts - (ts - start_ms) % step_ms).label("bucket")
    klass = (usage_events.c.status - usage_events.c.status % 100).label("klass")
    rows = conn.execute(
        select(bucket, klass, func.count())
        .where(
            usage_events.c.subscription_id == subscription_id,
            ts >= start_ms,
            ts < end_ms,
        )
        .group_by(bucket, klass)
        .order_by(bucket, klass)
    ).all()
    return [(int(b), f"{int(k) // 100}xx", int(n)) for b, k, n in rows]
