"""The usage sync's rows: planned meter-event pushes (``usage_push_windows``), its
watermark (``billing_state``) and what it needs to know about the ledger."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from tollway.store.billing_tables import billing_state, usage_push_windows
from tollway.store.tables import usage_events


@dataclass(frozen=True, slots=True)
class PlannedPush:
    """One planned meter event (a ``usage_push_windows`` row)."""

    identifier: str
    subscription_id: str
    event_name: str
    customer_id: str
    value: int
    timestamp_s: int
    created_at: datetime | None = None
    meter_key: str = ""


@dataclass(frozen=True, slots=True)
class LastPush:
    value: int
    seq: int
    timestamp_s: int


def get_state(conn: Connection, key: str) -> str | None:
    value = conn.execute(select(billing_state.c.value).where(billing_state.c.key == key)).scalar()
    return None if value is None else str(value)


def set_state(conn: Connection, key: str, value: str) -> None:
    done = conn.execute(
        update(billing_state).where(billing_state.c.key == key).values(value=value)
    ).rowcount
    if not done:
        conn.execute(billing_state.insert().values(key=key, value=value))


def touched_range(
    conn: Connection, subscription_id: str, since: datetime | None
) -> tuple[int, int] | None:
    """Smallest and largest event timestamp recorded for the subscription since ``since``."""
    q = select(func.min(usage_events.c.timestamp_ms), func.max(usage_events.c.timestamp_ms))
    q = q.where(usage_events.c.subscription_id == subscription_id)
    if since is not None:
        q = q.where(usage_events.c.recorded_at >= since)
    lo, hi = conn.execute(q).one()
    return None if lo is None else (int(lo), int(hi))


def planned(
    conn: Connection, subscription_id: str, meter_key: str, lo: int, hi: int
) -> dict[int, tuple[int, int]]:
    """window start -> (sum of planned values, highest seq) for windows in [lo, hi)."""
    rows = conn.execute(
        select(
            usage_push_windows.c.window_start_ms,
            func.sum(usage_push_windows.c.value),
            func.max(usage_push_windows.c.seq),
        )
        .where(
            usage_push_windows.c.subscription_id == subscription_id,
            usage_push_windows.c.meter_key == meter_key,
            usage_push_windows.c.window_start_ms >= lo,
            usage_push_windows.c.window_start_ms < hi,
        )
        .group_by(usage_push_windows.c.window_start_ms)
    ).fetchall()
    return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}


def last_push(
    conn: Connection, subscription_id: str, meter_key: str, window_start_ms: int
) -> LastPush | None:
    """The latest push planned for the window (period-to-date meters push one window)."""
    row = conn.execute(
        select(
            usage_push_windows.c.value, usage_push_windows.c.seq, usage_push_windows.c.timestamp_s
        )
        .where(
            usage_push_windows.c.subscription_id == subscription_id,
            usage_push_windows.c.meter_key == meter_key,
            usage_push_windows.c.window_start_ms == window_start_ms,
        )
        .order_by(usage_push_windows.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else LastPush(int(row.value), int(row.seq), int(row.timestamp_s))


def insert_planned(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert planned pushes in a savepoint: an IntegrityError (another worker planned the
    same window and sequence) leaves the caller's transaction usable."""
    with conn.begin_nested():
        conn.execute(usage_push_windows.insert(), rows)


def pending(conn: Connection, subscription_id: str | None = None) -> list[PlannedPush]:
    """Planned pushes not yet accepted, oldest window first."""
    q = select(usage_push_windows).where(usage_push_windows.c.state == "pending")
    if subscription_id is not None:
        q = q.where(usage_push_windows.c.subscription_id == subscription_id)
    q = q.order_by(usage_push_windows.c.window_start_ms, usage_push_windows.c.seq)
    return [
        PlannedPush(
            r.identifier,
            r.subscription_id,
            r.event_name,
            r.customer_id,
            int(r.value),
            int(r.timestamp_s),
            r.created_at,
            r.meter_key,
        )
        for r in conn.execute(q)
    ]


def mark(
    conn: Connection, identifiers: Sequence[str], state: str, now: datetime, error: str | None
) -> None:
    """Record an attempt's outcome (``sent`` or ``failed``) for these pushes."""
    conn.execute(
        update(usage_push_windows)
        .where(usage_push_windows.c.identifier.in_(list(identifiers)))
        .values(
            state=state,
            sent_at=now if state == "sent" else None,
            last_error=error,
            attempts=usage_push_windows.c.attempts + 1,
        )
    )


def unsettled_start(
    conn: Connection, subscription_id: str, meter_key: str | None, settled_before: datetime
) -> int | None:
    """Start (ms) of the earliest window Stripe may not have processed yet: a push still
    pending, or accepted after ``settled_before`` (Stripe aggregates meter events
    asynchronously). None when every planned push is settled."""
    q = select(func.min(usage_push_windows.c.window_start_ms)).where(
        usage_push_windows.c.subscription_id == subscription_id,
        (usage_push_windows.c.state == "pending") | (usage_push_windows.c.sent_at > settled_before),
    )
    if meter_key is not None:
        q = q.where(usage_push_windows.c.meter_key == meter_key)
    value = conn.execute(q).scalar()
    return None if value is None else int(value)


def planned_until(conn: Connection, subscription_id: str) -> int | None:
    """End (ms) of the latest window planned for the subscription (None: nothing yet)."""
    value = conn.execute(
        select(func.max(usage_push_windows.c.window_end_ms)).where(
            usage_push_windows.c.subscription_id == subscription_id
        )
    ).scalar()
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class SentInRange:
    total: int  # sum of the values of pushes marked sent
    last_sent_at: datetime | None  # the latest acceptance among them


def sent_in_range(
    conn: Connection, event_name: str, customer_id: str, start_s: int, end_s: int
) -> SentInRange:
    """What Tollway knows Stripe accepted for one customer on one meter event name with
    a timestamp in [start_s, end_s)."""
    c = usage_push_windows.c
    row = conn.execute(
        select(func.coalesce(func.sum(c.value), 0), func.max(c.sent_at)).where(
            c.event_name == event_name,
            c.customer_id == customer_id,
            c.state == "sent",
            c.timestamp_s >= start_s,
            c.timestamp_s < end_s,
        )
    ).one()
    return SentInRange(int(row[0]), row[1])


METER_ERRORS_KEY = "usage_sync.meter_errors"
METER_ERRORS_KEPT = 20


def mark_failed(conn: Connection, errors: dict[str, str]) -> int:
    """Mark the pushes named by Stripe's meter error samples as failed, with the error."""
    done = 0
    for ident, message in errors.items():
        done += conn.execute(
            update(usage_push_windows)
            .where(usage_push_windows.c.identifier == ident)
            .values(state="failed", last_error=message)
        ).rowcount
    return done


def record_meter_error(conn: Connection, report: dict[str, Any]) -> None:
    """Keep the latest meter error reports (newest first) for the publish-usage status."""
    known = meter_errors(conn)
    if any(r.get("event_id") == report.get("event_id") for r in known):
        return
    set_state(conn, METER_ERRORS_KEY, json.dumps([report, *known][:METER_ERRORS_KEPT]))


def meter_errors(conn: Connection) -> list[dict[str, Any]]:
    raw = get_state(conn, METER_ERRORS_KEY)
    value = json.loads(raw) if raw else []
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def failed_count(conn: Connection) -> int:
    q = select(func.count()).where(usage_push_windows.c.state == "failed")
    return int(conn.execute(q).scalar() or 0)
