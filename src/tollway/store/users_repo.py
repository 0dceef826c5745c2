"""Organizations and users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from tollway.domain.errors import Conflict
from tollway.domain.ids import new_id
from tollway.domain.paging import Page
from tollway.security.passwords import hash_password
from tollway.store.rows import one_or_404, paginate
from tollway.store.tables import organizations, users

DEFAULT_ORG_SLUG = "default"


def ensure_default_org(conn: Connection, now: datetime) -> str:
    row = conn.execute(
        select(organizations.c.id).where(organizations.c.slug == DEFAULT_ORG_SLUG)
    ).first()
    if row is not None:
        return str(row[0])
    return str(create_org(conn, name="Default", slug=DEFAULT_ORG_SLUG, now=now)["id"])


def create_org(conn: Connection, *, name: str, slug: str, now: datetime) -> dict[str, Any]:
    exists = conn.execute(select(organizations.c.id).where(organizations.c.slug == slug)).first()
    if exists:
        raise Conflict(f"an organization with slug '{slug}' already exists")
    values = {"id": new_id("org"), "name": name, "slug": slug, "created_at": now}
    conn.execute(organizations.insert().values(**values))
    return values


def get_org(conn: Connection, org_id: str) -> dict[str, Any]:
    return one_or_404(conn, organizations, org_id, "organization")


def create_user(
    conn: Connection,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    organization_id: str,
    now: datetime,
) -> dict[str, Any]:
    email = email.strip().lower()
    taken = conn.execute(select(users.c.id).where(func.lower(users.c.email) == email)).first()
    if taken:
        raise Conflict("a user with this email already exists")
    values = {
        "id": new_id("usr"),
        "organization_id": organization_id,
        "email": email,
        "name": name,
        "role": role,
        "password_hash": hash_password(password) if password else None,
        "disabled": False,
        "created_at": now,
    }
    conn.execute(users.insert().values(**values))
    return values


def get_user(conn: Connection, user_id: str) -> dict[str, Any]:
    return one_or_404(conn, users, user_id, "user")


def find_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    row = (
        conn.execute(select(users).where(func.lower(users.c.email) == email.strip().lower()))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def set_password_hash(conn: Connection, user_id: str, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def page_users(conn: Connection, *, limit: int, after: str | None) -> Page:
    return paginate(conn, select(users), users.c.id, limit=limit, after=after)


def page_orgs(conn: Connection, *, limit: int, after: str | None) -> Page:
    return paginate(conn, select(organizations), organizations.c.id, limit=limit, after=after)
