"""Subscriptions and their audit log; every state change goes through ``transition``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from tollway.domain.errors import Conflict, IllegalTransition
from tollway.domain.ids import new_id
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.domain.subscriptions import LIVE, Cause, SubState
from tollway.domain.subscriptions import transition as sub_transition
from tollway.store import changes, notify_repo
from tollway.store.rows import one_or_404, paginate
from tollway.store.tables import apis, plans, subscription_events, subscriptions

log = logging.getLogger(__name__)


def visible(principal: Principal) -> Any:
    if principal.is_admin:
        return subscriptions.c.id.is_not(None)
    if principal.role == "publisher":
        org_apis = select(apis.c.id).where(apis.c.organization_id == principal.organization_id)
        return subscriptions.c.api_id.in_(org_apis)
    return subscriptions.c.consumer_id == principal.user_id


def get(conn: Connection, sub_id: str, principal: Principal) -> dict[str, Any]:
    return one_or_404(conn, subscriptions, sub_id, "subscription", visible(principal))


def get_any(conn: Connection, sub_id: str) -> dict[str, Any]:
    return one_or_404(conn, subscriptions, sub_id, "subscription")


def live_for(conn: Connection, application_id: str, api_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(subscriptions).where(
                subscriptions.c.application_id == application_id,
                subscriptions.c.api_id == api_id,
                subscriptions.c.state.in_([s.value for s in LIVE]),
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def create(
    conn: Connection,
    *,
    application_id: str,
    api_id: str,
    plan_id: str,
    consumer_id: str,
    state: SubState,
    cause: Cause,
    actor: str | None,
    now: datetime,
) -> dict[str, Any]:
    if live_for(conn, application_id, api_id):
        raise Conflict("this application already has a subscription to this API")
    row = {
        "id": new_id("sub"),
        "application_id": application_id,
        "api_id": api_id,
        "plan_id": plan_id,
        "consumer_id": consumer_id,
        "state": state.value,
        "billing_anchor": now,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with conn.begin_nested():
            conn.execute(subscriptions.insert().values(**row))
    except IntegrityError:  # a concurrent request won the race for the same app and API
        raise Conflict("this application already has a subscription to this API") from None
    _audit(conn, str(row["id"]), None, state, cause, actor, "created", now)
    changes.bump(conn)
    return row


def transition(
    conn: Connection,
    sub_id: str,
    target: SubState,
    *,
    cause: Cause,
    actor: str | None,
    reason: str | None,
    now: datetime,
    only_from: SubState | None = None,
) -> bool:
    """Move a subscription; returns False (and changes nothing) if another writer got there
    first or the state is not ``only_from``. Raises ``IllegalTransition`` for illegal moves."""
    current = SubState(get_any(conn, sub_id)["state"])
    if only_from is not None and current is not only_from:
        return False
    if current is target:
        return False
    move = sub_transition(current, target, cause, reason)
    res = conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == sub_id, subscriptions.c.state == current.value)
        .values(state=target.value, updated_at=now)
    )
    if res.rowcount != 1:
        return False
    _audit(conn, sub_id, move.from_state, target, cause, actor, reason, now)
    changes.bump(conn)
    return True


def _audit(
    conn: Connection,
    sub_id: str,
    from_state: SubState | None,
    to_state: SubState,
    cause: Cause,
    actor: str | None,
    reason: str | None,
    now: datetime,
) -> None:
    conn.execute(
        subscription_events.insert().values(
            id=new_id("sev"),
            subscription_id=sub_id,
            from_state=from_state.value if from_state else None,
            to_state=to_state.value,
            cause=cause.value,
            actor=actor,
            reason=reason,
            created_at=now,
        )
    )
    if from_state is not None:  # a change, not the creation: tell the consumer
        consumer = conn.execute(
            select(subscriptions.c.consumer_id).where(subscriptions.c.id == sub_id)
        ).scalar_one()
        notify_repo.emit(
            conn,
            str(consumer),
            "subscription.state_changed",
            {
                "subscription_id": sub_id,
                "from_state": from_state.value,
                "to_state": to_state.value,
                "cause": cause.value,
                "reason": reason,
            },
            now,
        )


def events(conn: Connection, sub_id: str) -> list[dict[str, Any]]:
    q = (
        select(subscription_events)
        .where(subscription_events.c.subscription_id == sub_id)
        .order_by(subscription_events.c.id)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def of_consumer_with_names(conn: Connection, consumer_id: str) -> list[dict[str, Any]]:
    """The consumer's subscriptions, newest first, with the API's and the plan's names
    (``api_name``, ``plan_name``)."""
    q = (
        select(subscriptions, apis.c.name.label("api_name"), plans.c.name.label("plan_name"))
        .join(apis, apis.c.id == subscriptions.c.api_id)
        .join(plans, plans.c.id == subscriptions.c.plan_id)
        .where(subscriptions.c.consumer_id == consumer_id)
        .order_by(subscriptions.c.id.desc())
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def page(conn: Connection, principal: Principal, *, limit: int, after: str | None) -> Page:
    """The subscriptions the caller may see, by id (creation order)."""
    query = select(subscriptions).where(visible(principal))
    return paginate(conn, query, subscriptions.c.id, limit=limit, after=after)


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
    """Move the subscription to ``target`` if the state machine allows it: a
    compare-and-set (``UPDATE ... WHERE state = :current``), so when movers race (a
    webhook and the checkout redirect) exactly one moves it and writes the audit row.

    Returns True when this call changed the state; False when the subscription is
    already there, the move is not allowed from its current state, or its current
    state is not in ``only_from`` (``transition`` raises for an illegal move instead).
    """
    current = SubState(get_any(conn, subscription_id)["state"])
    if current == target or (only_from is not None and current not in set(only_from)):
        return False
    try:
        sub_transition(current, target, cause, reason)
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
    _audit(conn, subscription_id, current, target, cause, actor, reason, now)
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


def other_live_on_plan(conn: Connection, subscription_id: str) -> str | None:
    """Another live subscription of the same consumer on the same API and plan, if any."""
    sub = get_any(conn, subscription_id)
    row = conn.execute(
        select(subscriptions.c.id).where(
            subscriptions.c.consumer_id == sub["consumer_id"],
            subscriptions.c.api_id == sub["api_id"],
            subscriptions.c.plan_id == sub["plan_id"],
            subscriptions.c.id != subscription_id,
            subscriptions.c.state.in_([s.value for s in LIVE]),
        )
    ).first()
    return None if row is None else str(row[0])
