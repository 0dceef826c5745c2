"""APIs, their deployments, operations and enabled plans."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from tollway.domain.errors import Conflict, NotFound
from tollway.domain.ids import new_id
from tollway.domain.lifecycle import REACHABLE, Lifecycle
from tollway.domain.lifecycle import transition as lifecycle_transition
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.store import changes
from tollway.store.rows import one_or_404, paginate
from tollway.store.tables import api_deployments, api_operations, api_plans, apis


def visible(principal: Principal) -> Any:
    """The SQL condition for APIs this caller may see."""
    if principal.is_admin:
        return apis.c.id.is_not(None)
    if principal.role == "publisher":
        return apis.c.organization_id == principal.organization_id
    return apis.c.lifecycle.in_([s.value for s in REACHABLE])


def get(
    conn: Connection, api_id: str, principal: Principal, *, manage: bool = False
) -> dict[str, Any]:
    """The API if the caller may see it (``manage``: change it); otherwise 404.

    Whoever may manage APIs (admins; publishers, for their organization's) sees exactly
    those, so ``manage`` only turns everyone else away."""
    if manage and principal.role not in ("admin", "publisher"):
        raise NotFound(f"API '{api_id}' not found")
    return one_or_404(conn, apis, api_id, "API", visible(principal))


def get_any(conn: Connection, api_id: str) -> dict[str, Any]:
    return one_or_404(conn, apis, api_id, "API")


def create(
    conn: Connection,
    *,
    organization_id: str,
    name: str,
    context: str,
    version: str,
    description: str,
    usage_header: str | None,
    now: datetime,
) -> dict[str, Any]:
    taken = conn.execute(
        select(apis.c.id).where(apis.c.context == context, apis.c.version == version)
    ).first()
    if taken:
        raise Conflict(f"an API with context '{context}' and version '{version}' already exists")
    values = {
        "id": new_id("api"),
        "organization_id": organization_id,
        "name": name,
        "context": context,
        "version": version,
        "description": description,
        "lifecycle": Lifecycle.CREATED.value,
        "usage_header": usage_header,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(apis.insert().values(**values))
    return values


def update_fields(conn: Connection, api_id: str, fields: dict[str, Any], now: datetime) -> None:
    if fields:
        conn.execute(update(apis).where(apis.c.id == api_id).values(**fields, updated_at=now))
        changes.bump(conn)


def add_operations(
    conn: Connection, api_id: str, ops: Iterable[tuple[str, str, str | None, str | None]]
) -> list[dict[str, Any]]:
    rows = [
        {
            "id": new_id("op"),
            "api_id": api_id,
            "method": m.upper(),
            "path_template": p,
            "operation_ref": ref,
            "summary": (summary or None) and summary[:500],
        }
        for m, p, ref, summary in ops
    ]
    if rows:
        conn.execute(api_operations.insert(), rows)
    return rows


def operations(conn: Connection, api_id: str) -> list[dict[str, Any]]:
    q = select(api_operations).where(api_operations.c.api_id == api_id)
    return [
        dict(r)
        for r in conn.execute(
            q.order_by(api_operations.c.path_template, api_operations.c.method)
        ).mappings()
    ]


def operation_counts(conn: Connection, api_ids: list[str]) -> dict[str, int]:
    if not api_ids:
        return {}
    q = (
        select(api_operations.c.api_id, func.count())
        .where(api_operations.c.api_id.in_(api_ids))
        .group_by(api_operations.c.api_id)
    )
    return {str(a): int(n) for a, n in conn.execute(q)}


def deployments(conn: Connection, api_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {a: [] for a in api_ids}
    if api_ids:
        q = select(api_deployments).where(api_deployments.c.api_id.in_(api_ids))
        for r in conn.execute(q.order_by(api_deployments.c.environment)).mappings():
            out[str(r["api_id"])].append(dict(r))
    return out


def deploy(
    conn: Connection, api_id: str, environment: str, upstream_url: str, now: datetime
) -> dict[str, Any]:
    conn.execute(
        delete(api_deployments).where(
            api_deployments.c.api_id == api_id, api_deployments.c.environment == environment
        )
    )
    values = {
        "id": new_id("dep"),
        "api_id": api_id,
        "environment": environment,
        "upstream_url": upstream_url,
        "deployed_at": now,
    }
    conn.execute(api_deployments.insert().values(**values))
    changes.bump(conn)
    return values


def undeploy(conn: Connection, api_id: str, environment: str) -> None:
    res = conn.execute(
        delete(api_deployments).where(
            api_deployments.c.api_id == api_id, api_deployments.c.environment == environment
        )
    )
    if res.rowcount == 0:
        raise NotFound(f"the API has no '{environment}' deployment")
    changes.bump(conn)


def change_lifecycle(conn: Connection, api: dict[str, Any], target: str, now: datetime) -> str:
    new = lifecycle_transition(Lifecycle(api["lifecycle"]), Lifecycle(target))
    if new is Lifecycle.PUBLISHED:
        has_dep = conn.execute(
            select(api_deployments.c.id).where(api_deployments.c.api_id == api["id"])
        ).first()
        if not has_dep:
            raise Conflict("deploy the API to at least one environment before publishing it")
    conn.execute(
        update(apis).where(apis.c.id == api["id"]).values(lifecycle=new.value, updated_at=now)
    )
    changes.bump(conn)
    return new.value


def set_plan(conn: Connection, api_id: str, plan_id: str, enabled: bool, now: datetime) -> None:
    exists = conn.execute(
        select(api_plans.c.enabled).where(
            api_plans.c.api_id == api_id, api_plans.c.plan_id == plan_id
        )
    ).first()
    if exists is None:
        conn.execute(
            api_plans.insert().values(
                api_id=api_id, plan_id=plan_id, enabled=enabled, created_at=now
            )
        )
    else:
        conn.execute(
            update(api_plans)
            .where(api_plans.c.api_id == api_id, api_plans.c.plan_id == plan_id)
            .values(enabled=enabled)
        )
    changes.bump(conn)


def plans_of(conn: Connection, api_id: str, *, enabled_only: bool) -> list[dict[str, Any]]:
    q = select(api_plans).where(api_plans.c.api_id == api_id)
    if enabled_only:
        q = q.where(api_plans.c.enabled.is_(True))
    return [dict(r) for r in conn.execute(q.order_by(api_plans.c.plan_id)).mappings()]


def plan_enabled(conn: Connection, api_id: str, plan_id: str) -> bool:
    row = conn.execute(
        select(api_plans.c.enabled).where(
            api_plans.c.api_id == api_id, api_plans.c.plan_id == plan_id
        )
    ).first()
    return bool(row and row[0])


def page(conn: Connection, principal: Principal, *, limit: int, after: str | None) -> Page:
    """The APIs the caller may see, by id (creation order)."""
    return paginate(
        conn, select(apis).where(visible(principal)), apis.c.id, limit=limit, after=after
    )
