"""Plan changes of live subscriptions: the ``subscription_plan_changes`` table and its
queries.

A row records one change from ``from_plan_id`` to ``to_plan_id``. ``applied`` changes
took effect at ``effective_at`` (epoch seconds) inside the billing period
``[period_start, period_end)``; the subscription row is on ``to_plan_id`` from then on,
so the gateway's quotas and rate limits follow it. ``scheduled`` changes take effect at
the period end (``effective_at``) and are applied then; ``cancelled`` ones never will.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    String,
    Table,
    select,
    update,
)

from tollway.domain.ids import new_id
from tollway.store import changes
from tollway.store.tables import ID, metadata, subscriptions
from tollway.store.types import UTCDateTime

APPLIED = "applied"
SCHEDULED = "scheduled"
CANCELLED = "cancelled"

subscription_plan_changes = Table(
    "subscription_plan_changes",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column(
        "subscription_id",
        String(ID),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("from_plan_id", String(ID), nullable=False),
    Column("to_plan_id", String(ID), nullable=False),
    Column("timing", String(12), nullable=False),  # now | period_end
    Column("proration_behavior", String(20), nullable=False),
    Column("effective_at", BigInteger, nullable=False),  # epoch seconds
    Column("period_start", BigInteger, nullable=False),
    Column("period_end", BigInteger, nullable=False),
    Column("state", String(12), nullable=False),  # applied | scheduled | cancelled
    Column("actor", String(ID), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index(
    "ix_subscription_plan_changes_sub",
    subscription_plan_changes.c.subscription_id,
    subscription_plan_changes.c.effective_at,
)


@dataclass(frozen=True, slots=True)
class PlanChangeRow:
    id: str
    subscription_id: str
    from_plan_id: str
    to_plan_id: str
    timing: str
    proration_behavior: str
    effective_at: int
    period_start: int
    period_end: int
    state: str
    actor: str | None
    created_at: datetime


def _row(r: object) -> PlanChangeRow:
    m = r._mapping  # type: ignore[attr-defined]
    return PlanChangeRow(**{k: m[k] for k in PlanChangeRow.__slots__})


def record(
    conn: Connection,
    *,
    subscription_id: str,
    from_plan_id: str,
    to_plan_id: str,
    timing: str,
    proration_behavior: str,
    effective_at: int,
    period: tuple[int, int],
    state: str,
    actor: str | None,
    now: datetime,
) -> PlanChangeRow:
    values = {
        "id": new_id("pch"),
        "subscription_id": subscription_id,
        "from_plan_id": from_plan_id,
        "to_plan_id": to_plan_id,
        "timing": timing,
        "proration_behavior": proration_behavior,
        "effective_at": effective_at,
        "period_start": period[0],
        "period_end": period[1],
        "state": state,
        "actor": actor,
        "created_at": now,
    }
    conn.execute(subscription_plan_changes.insert().values(**values))
    return PlanChangeRow(**values)  # type: ignore[arg-type]


def move_subscription(conn: Connection, subscription_id: str, plan_id: str, now: datetime) -> None:
    """Put the subscription on ``plan_id``; the gateway picks it up with the config
    version bumped in the same transaction."""
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(plan_id=plan_id, updated_at=now)
    )
    changes.bump(conn)


def of_subscription(conn: Connection, subscription_id: str) -> list[PlanChangeRow]:
    """Every change of the subscription, oldest first."""
    rows = conn.execute(
        select(subscription_plan_changes)
        .where(subscription_plan_changes.c.subscription_id == subscription_id)
        .order_by(subscription_plan_changes.c.effective_at, subscription_plan_changes.c.id)
    )
    return [_row(r) for r in rows]


def applied_in_period(
    conn: Connection, subscription_id: str, start: int, end: int
) -> list[PlanChangeRow]:
    """The mid-period changes applied inside ``[start, end)``, oldest first (a change at
    a period end is not one: it prorates nothing)."""
    return [
        c
        for c in of_subscription(conn, subscription_id)
        if c.state == APPLIED and c.timing == "now" and start <= c.effective_at < end
    ]


def scheduled(conn: Connection, subscription_id: str) -> PlanChangeRow | None:
    """The change waiting for the period end, if any."""
    found = [c for c in of_subscription(conn, subscription_id) if c.state == SCHEDULED]
    return found[-1] if found else None


def apply_due(conn: Connection, subscription_id: str, period_start: int, now: datetime) -> bool:
    """A new period started at ``period_start``: apply the change scheduled for it (the
    subscription moves to its plan). True if one was applied."""
    change = scheduled(conn, subscription_id)
    if change is None or change.effective_at > period_start:
        return False
    done = conn.execute(
        update(subscription_plan_changes)
        .where(
            subscription_plan_changes.c.id == change.id,
            subscription_plan_changes.c.state == SCHEDULED,
        )
        .values(state=APPLIED)
    )
    if done.rowcount != 1:
        return False
    move_subscription(conn, subscription_id, change.to_plan_id, now)
    return True


def cut_points_ms(conn: Connection, subscription_id: str) -> tuple[int, ...]:
    """The moments (epoch ms) a plan change took effect: usage windows are cut there,
    so usage before a change is pushed to the old plan's meter and usage after it to
    the new one's."""
    rows = conn.execute(
        select(subscription_plan_changes.c.effective_at).where(
            subscription_plan_changes.c.subscription_id == subscription_id,
            subscription_plan_changes.c.state == APPLIED,
            subscription_plan_changes.c.timing == "now",
        )
    )
    return tuple(sorted(int(r[0]) * 1000 for r in rows))
