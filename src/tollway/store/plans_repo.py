"""Subscription plans and meters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from tollway.domain.errors import Conflict, NotFound
from tollway.domain.ids import new_id
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.store import changes
from tollway.store.rows import one_or_404, paginate
from tollway.store.tables import api_plans, meters, plans, subscriptions


def visible(principal: Principal) -> Any:
    if principal.is_admin:
        return plans.c.id.is_not(None)
    if principal.role == "publisher":
        return plans.c.organization_id == principal.organization_id
    # Consumers see plans enabled on at least one API.
    enabled = select(api_plans.c.plan_id).where(api_plans.c.enabled.is_(True))
    return plans.c.id.in_(enabled)


def get(
    conn: Connection, plan_id: str, principal: Principal, *, manage: bool = False
) -> dict[str, Any]:
    """The plan if the caller may see it (``manage``: change it); otherwise 404, as for APIs."""
    if manage and principal.role not in ("admin", "publisher"):
        raise NotFound(f"plan '{plan_id}' not found")
    return one_or_404(conn, plans, plan_id, "plan", visible(principal))


def get_any(conn: Connection, plan_id: str) -> dict[str, Any]:
    return one_or_404(conn, plans, plan_id, "plan")


def meter_exists(conn: Connection, organization_id: str, key: str) -> bool:
    found = conn.execute(
        select(meters.c.id).where(meters.c.organization_id == organization_id, meters.c.key == key)
    ).first()
    return found is not None


def create(
    conn: Connection, *, organization_id: str, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    taken = conn.execute(
        select(plans.c.id).where(
            plans.c.organization_id == organization_id, plans.c.name == values["name"]
        )
    ).first()
    if taken:
        raise Conflict(f"a plan named '{values['name']}' already exists")
    row = {
        "id": new_id("plan"),
        "organization_id": organization_id,
        "status": "active",
        "created_at": now,
        "updated_at": now,
        **values,
    }
    conn.execute(plans.insert().values(**row))
    return row


def update_fields(conn: Connection, plan_id: str, values: dict[str, Any], now: datetime) -> None:
    conn.execute(update(plans).where(plans.c.id == plan_id).values(**values, updated_at=now))
    changes.bump(conn)


def in_use(conn: Connection, plan_id: str) -> bool:
    return (
        conn.execute(
            select(subscriptions.c.id).where(subscriptions.c.plan_id == plan_id).limit(1)
        ).first()
        is not None
    )


def delete_plan(conn: Connection, plan_id: str) -> None:
    conn.execute(delete(api_plans).where(api_plans.c.plan_id == plan_id))
    conn.execute(delete(plans).where(plans.c.id == plan_id))
    changes.bump(conn)


def retire(conn: Connection, plan_id: str, now: datetime) -> None:
    """Retired plans take no new subscriptions; existing ones keep running."""
    conn.execute(
        update(plans).where(plans.c.id == plan_id).values(status="retired", updated_at=now)
    )
    conn.execute(update(api_plans).where(api_plans.c.plan_id == plan_id).values(enabled=False))
    changes.bump(conn)


def create_meter(
    conn: Connection, organization_id: str, key: str, definition: dict[str, Any], now: datetime
) -> dict[str, Any]:
    row = {
        "id": new_id("mtr"),
        "organization_id": organization_id,
        "key": key,
        "definition": definition,
        "created_at": now,
    }
    conn.execute(meters.insert().values(**row))
    changes.bump(conn)
    return row


def list_meters(conn: Connection, organization_id: str) -> list[dict[str, Any]]:
    q = select(meters).where(meters.c.organization_id == organization_id).order_by(meters.c.key)
    return [dict(r) for r in conn.execute(q).mappings()]


def enabled_api_ids(conn: Connection, plan_id: str) -> list[str]:
    q = select(api_plans.c.api_id).where(
        api_plans.c.plan_id == plan_id, api_plans.c.enabled.is_(True)
    )
    return [str(r[0]) for r in conn.execute(q.order_by(api_plans.c.api_id))]


def page(conn: Connection, principal: Principal, *, limit: int, after: str | None) -> Page:
    """The plans the caller may see, by id (creation order)."""
    query = select(plans).where(visible(principal))
    return paginate(conn, query, plans.c.id, limit=limit, after=after)


def enabled_pairs(conn: Connection, organization_id: str) -> list[tuple[str, str]]:
    """(API id, plan id) of every plan of the organization enabled on an API."""
    q = (
        select(api_plans.c.api_id, api_plans.c.plan_id)
        .join(plans, plans.c.id == api_plans.c.plan_id)
        .where(api_plans.c.enabled.is_(True), plans.c.organization_id == organization_id)
        .order_by(api_plans.c.api_id, api_plans.c.plan_id)
    )
    return [(str(a), str(p)) for a, p in conn.execute(q)]


def meter_row(conn: Connection, organization_id: str, key: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(meters).where(meters.c.organization_id == organization_id, meters.c.key == key)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def live_subscription_count(conn: Connection, plan_id: str) -> int:
    """Subscriptions on the plan that are not over (on hold, active or blocked)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(subscriptions)
            .where(
                subscriptions.c.plan_id == plan_id,
                subscriptions.c.state.in_(("on_hold", "active", "blocked")),
            )
        ).scalar_one()
    )
