"""Database helpers of billing: subscription state changes (with audit) and lookups.

``move_state`` is the one place billing changes a Tollway subscription's state. It is a
compare-and-set (``UPDATE ... WHERE state = :current``), so when a webhook and the
checkout redirect race, exactly one of them moves the state and writes the audit row;
the other sees zero rows changed and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from tollway.domain.errors import IllegalTransition, NotFound
from tollway.domain.ids import new_id
from tollway.domain.subscriptions import Cause, SubState, transition
from tollway.metering.events import FIELDS, UsageEvent
from tollway.store import changes
from tollway.store import db as store_db
from tollway.store.billing_tables import billing_subscriptions, stripe_accounts
from tollway.store.tables import plans, subscription_events, subscriptions, usage_events

log = logging.getLogger(__name__)


@contextmanager
def reading(db: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """``conn`` if the caller is inside a transaction, else a read-only transaction
    (on SQLite a plain BEGIN, which never waits for the write lock)."""
    if conn is not None:
        yield conn
        return
    with store_db.transaction(db, read_only=True) as c:
        yield c


@contextmanager
def writing(db: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """``conn`` if the caller is inside a transaction (it commits), else a new one."""
    if conn is not None:
        yield conn
        return
    with db.begin() as c:
        yield c


@dataclass(frozen=True, slots=True)
class SubRow:
    id: str
    state: SubState
    plan_id: str
    api_id: str
    consumer_id: str
    application_id: str
    organization_id: str


def load_sub(conn: Connection, subscription_id: str) -> SubRow:
    row = conn.execute(
        select(
            subscriptions.c.id,
            subscriptions.c.state,
            subscriptions.c.plan_id,
            subscriptions.c.api_id,
            subscriptions.c.consumer_id,
            subscriptions.c.application_id,
            plans.c.organization_id,
        )
        .join(plans, plans.c.id == subscriptions.c.plan_id)
        .where(subscriptions.c.id == subscription_id)
    ).first()
    if row is None:
        raise NotFound(f"subscription {subscription_id} not found")
    return SubRow(
        id=row.id,
        state=SubState(row.state),
        plan_id=row.plan_id,
        api_id=row.api_id,
        consumer_id=row.consumer_id,
        application_id=row.application_id,
        organization_id=row.organization_id,
    )


def load_own_sub(conn: Connection, subscription_id: str, consumer_id: str | None) -> SubRow:
    """``load_sub`` for a caller who may only see their own subscriptions
    (``consumer_id``; None: any). Someone else's subscription is answered exactly like
    one that does not exist (the same NotFound), so ids cannot be probed; callers check
    this before anything else (Stripe configuration, billing rows) can answer."""
    sub = load_sub(conn, subscription_id)
    if consumer_id is not None and sub.consumer_id != consumer_id:
        raise NotFound(f"subscription {subscription_id} not found")
    return sub


def move_state(
    conn: Connection,
    subscription_id: str,
    target: SubState,
    *,
    cause: Cause,
    now: datetime,
    reason: str | None = None,
    only_from: Iterable[SubState] | None = None,
    actor: str | None = None,
) -> bool:
    """Move the subscription to ``target`` if the state machine allows it.

    Returns True when this call changed the state (and wrote the audit row); False when
    the subscription is already there, the move is not allowed from its current state,
    or its current state is not in ``only_from``.
    """
    row = conn.execute(
        select(subscriptions.c.state).where(subscriptions.c.id == subscription_id)
    ).first()
    if row is None:
        raise NotFound(f"subscription {subscription_id} not found")
    current = SubState(row.state)
    if current == target:
        return False
    if only_from is not None and current not in set(only_from):
        return False
    try:
        transition(current, target, cause, reason)
    except IllegalTransition as exc:
        log.info("subscription %s: %s", subscription_id, exc.detail)
        return False
    changed = conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id, subscriptions.c.state == current.value)
        .values(state=target.value, updated_at=now)
    ).rowcount
    if changed != 1:
        return False
    conn.execute(
        subscription_events.insert().values(
            id=new_id("sev"),
            subscription_id=subscription_id,
            from_state=current.value,
            to_state=target.value,
            cause=cause.value,
            actor=actor,
            reason=reason,
            created_at=now,
        )
    )
    changes.bump(conn)  # the gateways must see the new state (block, unblock, activate)
    log.info(
        "subscription %s: %s -> %s (%s%s)",
        subscription_id,
        current.value,
        target.value,
        cause.value,
        f": {reason}" if reason else "",
    )
    return True


def billing_row(conn: Connection, **where: Any) -> Any:
    """The ``billing_subscriptions`` row matching one column, or None."""
    ((col, value),) = where.items()
    return conn.execute(
        select(billing_subscriptions).where(billing_subscriptions.c[col] == value)
    ).first()


def stripe_account(conn: Connection, organization_id: str | None) -> Any:
    """The organization's ``stripe_accounts`` row (its stored Stripe keys), or None."""
    return conn.execute(
        select(stripe_accounts).where(stripe_accounts.c.organization_id == organization_id)
    ).first()


def stripe_configured(conn: Connection, organization_id: str | None) -> bool:
    """Whether the organization has stored its Stripe keys."""
    return (
        conn.execute(
            select(stripe_accounts.c.organization_id).where(
                stripe_accounts.c.organization_id == organization_id
            )
        ).first()
        is not None
    )


def ledger_events(
    conn: Connection, subscription_id: str, start_ms: int, end_ms: int
) -> list[UsageEvent]:
    """The subscription's ledger events with ``start_ms <= timestamp_ms < end_ms``."""
    rows = conn.execute(
        select(*(usage_events.c[name] for name in FIELDS)).where(
            usage_events.c.subscription_id == subscription_id,
            usage_events.c.timestamp_ms >= start_ms,
            usage_events.c.timestamp_ms < end_ms,
        )
    ).all()
    return [UsageEvent(*row) for row in rows]
