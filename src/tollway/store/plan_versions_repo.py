"""Versions of a plan (``plan_versions``), their Stripe prices per API
(``plan_version_prices``) and the version each subscription is on
(``subscription_versions``).

The ``plans`` row always holds the latest version's pricing and limits, so whatever
sells the plan sells its latest version. A plan without version rows is at version 1.
A subscription without a row for its current plan is on the latest version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from tollway.store.selling_tables import plan_version_prices as vp
from tollway.store.selling_tables import plan_versions as pv
from tollway.store.selling_tables import subscription_versions as sv
from tollway.store.tables import subscriptions

LIMIT_COLUMNS = ("rate_limit_count", "rate_limit_unit", "quota_limit", "quota_mode")
LIVE_STATES = ("on_hold", "active", "blocked")


@dataclass(frozen=True, slots=True)
class SubscriptionVersion:
    version: int
    latest: int
    next_version: int | None  # moves to it at the next renewal

    @property
    def grandfathered(self) -> bool:
        return self.version < self.latest and self.next_version is None


def limits_of(plan: dict[str, Any]) -> dict[str, Any]:
    return {c: plan.get(c) for c in LIMIT_COLUMNS}


def latest(conn: Connection, plan_id: str) -> int:
    found = conn.execute(select(func.max(pv.c.version)).where(pv.c.plan_id == plan_id)).scalar()
    return int(found or 1)


def add(
    conn: Connection,
    plan_id: str,
    version: int,
    plan: dict[str, Any],
    existing_subscribers: str,
    now: datetime,
) -> None:
    """Record ``plan`` (a row's pricing and limit columns) as version ``version``."""
    conn.execute(
        pv.insert().values(
            plan_id=plan_id,
            version=version,
            pricing=plan["pricing"],
            limits=limits_of(plan),
            existing_subscribers=existing_subscribers,
            created_at=now,
        )
    )


def ensure_first(conn: Connection, plan: dict[str, Any], now: datetime) -> None:
    """A plan made before versions existed (or by a path that records none) gets its
    current pricing and limits as version 1."""
    known = conn.execute(select(pv.c.version).where(pv.c.plan_id == plan["id"]).limit(1)).first()
    if known is None:
        add(conn, plan["id"], 1, plan, "stay", now)


def set_limits(conn: Connection, plan_id: str, version: int, plan: dict[str, Any]) -> None:
    """The limits of a version changed in place (a limit change that is not a new version)."""
    conn.execute(
        update(pv)
        .where(pv.c.plan_id == plan_id, pv.c.version == version)
        .values(limits=limits_of(plan))
    )


def versions(conn: Connection, plan_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(pv).where(pv.c.plan_id == plan_id).order_by(pv.c.version))
    return [dict(r._mapping) for r in rows]


def get(conn: Connection, plan_id: str, version: int) -> dict[str, Any] | None:
    row = conn.execute(select(pv).where(pv.c.plan_id == plan_id, pv.c.version == version)).first()
    return None if row is None else dict(row._mapping)


def _live_of_plan(plan_id: str) -> Any:
    return and_(subscriptions.c.plan_id == plan_id, subscriptions.c.state.in_(LIVE_STATES))


def pin_live(conn: Connection, plan_id: str, version: int) -> None:
    """Before a new version is published: live subscriptions of the plan without a row
    for it are on ``version`` (the latest until now) and keep it unless moved."""
    rows = conn.execute(
        select(subscriptions.c.id, sv.c.plan_id)
        .select_from(subscriptions.outerjoin(sv, sv.c.subscription_id == subscriptions.c.id))
        .where(_live_of_plan(plan_id))
    ).fetchall()
    for sub_id, row_plan in rows:
        if row_plan == plan_id:
            continue
        set_subscription(conn, sub_id, plan_id, version)


def move_at_renewal(conn: Connection, plan_id: str, version: int) -> int:
    """Live subscriptions of the plan on an older version move to ``version`` at their
    next renewal. Returns how many."""
    live = select(subscriptions.c.id).where(_live_of_plan(plan_id))
    done = conn.execute(
        update(sv)
        .where(sv.c.plan_id == plan_id, sv.c.version < version, sv.c.subscription_id.in_(live))
        .values(next_version=version)
    )
    return int(done.rowcount or 0)


def set_subscription(
    conn: Connection, sub_id: str, plan_id: str, version: int, next_version: int | None = None
) -> None:
    values = {"plan_id": plan_id, "version": version, "next_version": next_version}
    done = conn.execute(update(sv).where(sv.c.subscription_id == sub_id).values(**values))
    if done.rowcount == 0:
        conn.execute(sv.insert().values(subscription_id=sub_id, **values))


def of_subscription(conn: Connection, sub_id: str, plan_id: str) -> SubscriptionVersion:
    top = latest(conn, plan_id)
    row = conn.execute(
        select(sv.c.version, sv.c.next_version).where(
            sv.c.subscription_id == sub_id, sv.c.plan_id == plan_id
        )
    ).first()
    if row is None:
        return SubscriptionVersion(top, top, None)
    return SubscriptionVersion(int(row.version), top, row.next_version)


def subscription_plan(conn: Connection, sub_id: str, plan: dict[str, Any]) -> dict[str, Any]:
    """``plan`` (a plans row) with the pricing and limits of the subscription's version."""
    at = of_subscription(conn, sub_id, plan["id"])
    if at.version == at.latest:
        return plan
    found = get(conn, plan["id"], at.version)
    if found is None:
        return plan
    return {**plan, **found["limits"], "pricing": found["pricing"]}


def pinned_old(conn: Connection) -> list[tuple[str, str, int, dict[str, Any], Any]]:
    """(subscription id, plan id, version, limits, pricing) of every subscription on a
    version older than its plan's latest (for the gateway)."""
    newest = (
        select(pv.c.plan_id, func.max(pv.c.version).label("top")).group_by(pv.c.plan_id).subquery()
    )
    query = (
        select(sv.c.subscription_id, sv.c.plan_id, sv.c.version, pv.c.limits, pv.c.pricing)
        .join(subscriptions, subscriptions.c.id == sv.c.subscription_id)
        .join(newest, newest.c.plan_id == sv.c.plan_id)
        .join(pv, and_(pv.c.plan_id == sv.c.plan_id, pv.c.version == sv.c.version))
        .where(subscriptions.c.plan_id == sv.c.plan_id, sv.c.version < newest.c.top)
    )
    return [(r[0], r[1], int(r[2]), dict(r[3]), r[4]) for r in conn.execute(query)]


def record_prices(
    conn: Connection, api_id: str, plan_id: str, version: int, flat: str | None, usage: str | None
) -> None:
    values = {"flat_price_id": flat, "usage_price_id": usage}
    done = conn.execute(
        update(vp)
        .where(vp.c.api_id == api_id, vp.c.plan_id == plan_id, vp.c.version == version)
        .values(**values)
    )
    if done.rowcount == 0:
        conn.execute(vp.insert().values(api_id=api_id, plan_id=plan_id, version=version, **values))


def prices(
    conn: Connection, api_id: str, plan_id: str, version: int
) -> tuple[str | None, str | None] | None:
    row = conn.execute(
        select(vp.c.flat_price_id, vp.c.usage_price_id).where(
            vp.c.api_id == api_id, vp.c.plan_id == plan_id, vp.c.version == version
        )
    ).first()
    return None if row is None else (row[0], row[1])


def subscriber_counts(conn: Connection, plan_id: str) -> dict[int, int]:
    """Live subscriptions per version of the plan (those without a row: the latest)."""
    top = latest(conn, plan_id)
    rows = conn.execute(
        select(subscriptions.c.id, sv.c.version, sv.c.plan_id)
        .select_from(subscriptions.outerjoin(sv, sv.c.subscription_id == subscriptions.c.id))
        .where(_live_of_plan(plan_id))
    )
    out: dict[int, int] = {}
    for _, version, row_plan in rows:
        v = int(version) if row_plan == plan_id and version is not None else top
        out[v] = out.get(v, 0) + 1
    return out
