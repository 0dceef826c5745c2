"""Applications and their credentials (API keys, OAuth clients)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from tollway.domain.errors import Conflict, NotFound
from tollway.domain.ids import new_id
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.security.apikeys import generate_api_key
from tollway.security.tokens import generate_client_credentials, hash_client_secret
from tollway.store import changes
from tollway.store.rows import one_or_404, paginate
from tollway.store.tables import api_keys, applications, oauth_clients, subscriptions


def visible(principal: Principal) -> Any:
    if principal.is_admin:
        return applications.c.id.is_not(None)
    return applications.c.owner_id == principal.user_id


def get(conn: Connection, app_id: str, principal: Principal) -> dict[str, Any]:
    return one_or_404(conn, applications, app_id, "application", visible(principal))


def create(
    conn: Connection,
    owner_id: str,
    *,
    name: str,
    description: str,
    token_lifetime_s: int,
    now: datetime,
) -> dict[str, Any]:
    taken = conn.execute(
        select(applications.c.id).where(
            applications.c.owner_id == owner_id, applications.c.name == name
        )
    ).first()
    if taken:
        raise Conflict(f"you already have an application named '{name}'")
    row = {
        "id": new_id("app"),
        "owner_id": owner_id,
        "name": name,
        "description": description,
        "token_lifetime_s": token_lifetime_s,
        "created_at": now,
    }
    conn.execute(applications.insert().values(**row))
    return row


def update_fields(conn: Connection, app_id: str, values: dict[str, Any]) -> None:
    if values:
        conn.execute(update(applications).where(applications.c.id == app_id).values(**values))
        changes.bump(conn)


def name_taken(conn: Connection, owner_id: str, name: str, except_id: str) -> bool:
    found = conn.execute(
        select(applications.c.id).where(
            applications.c.owner_id == owner_id,
            applications.c.name == name,
            applications.c.id != except_id,
        )
    ).first()
    return found is not None


def has_subscriptions(conn: Connection, app_id: str) -> bool:
    found = conn.execute(
        select(subscriptions.c.id).where(subscriptions.c.application_id == app_id).limit(1)
    ).first()
    return found is not None


def delete(conn: Connection, app_id: str) -> None:
    """Delete the application; its keys and OAuth clients go with it (ON DELETE CASCADE
    is not relied on: SQLite enforces it only with foreign keys on)."""
    conn.execute(api_keys.delete().where(api_keys.c.application_id == app_id))
    conn.execute(oauth_clients.delete().where(oauth_clients.c.application_id == app_id))
    conn.execute(applications.delete().where(applications.c.id == app_id))
    changes.bump(conn)


def create_key(
    conn: Connection, app_id: str, environment: str, name: str, now: datetime
) -> tuple[dict[str, Any], str]:
    generated = generate_api_key(environment)  # type: ignore[arg-type]
    row = {
        "id": new_id("key"),
        "application_id": app_id,
        "environment": environment,
        "key_hash": generated.hash,
        "display_prefix": generated.display_prefix,
        "name": name,
        "created_at": now,
        "revoked_at": None,
        "last_used_at": None,
    }
    conn.execute(api_keys.insert().values(**row))
    changes.bump(conn)
    return row, generated.raw


def keys(conn: Connection, app_id: str) -> list[dict[str, Any]]:
    q = select(api_keys).where(api_keys.c.application_id == app_id).order_by(api_keys.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def revoke_key(conn: Connection, app_id: str, key_id: str, now: datetime) -> None:
    res = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            api_keys.c.application_id == app_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    if res.rowcount == 0:
        exists = conn.execute(
            select(api_keys.c.id).where(
                api_keys.c.id == key_id, api_keys.c.application_id == app_id
            )
        ).first()
        if not exists:
            raise NotFound(f"API key '{key_id}' not found")
        return
    changes.bump(conn)


def create_client(
    conn: Connection, app_id: str, environment: str, now: datetime
) -> tuple[dict[str, Any], str]:
    client_id, secret = generate_client_credentials()
    row = {
        "id": new_id("oac"),
        "application_id": app_id,
        "environment": environment,
        "client_id": client_id,
        "secret_hash": hash_client_secret(secret),
        "created_at": now,
        "revoked_at": None,
    }
    conn.execute(oauth_clients.insert().values(**row))
    changes.bump(conn)
    return row, secret


def clients(conn: Connection, app_id: str) -> list[dict[str, Any]]:
    q = (
        select(oauth_clients)
        .where(oauth_clients.c.application_id == app_id)
        .order_by(oauth_clients.c.id)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def revoke_client(conn: Connection, app_id: str, client_row_id: str, now: datetime) -> None:
    res = conn.execute(
        update(oauth_clients)
        .where(oauth_clients.c.id == client_row_id, oauth_clients.c.application_id == app_id)
        .values(revoked_at=now)
    )
    if res.rowcount == 0:
        raise NotFound(f"OAuth client '{client_row_id}' not found")
    changes.bump(conn)


def client_by_client_id(conn: Connection, client_id: str) -> dict[str, Any] | None:
    q = (
        select(oauth_clients, applications.c.token_lifetime_s)
        .join(applications, applications.c.id == oauth_clients.c.application_id)
        .where(oauth_clients.c.client_id == client_id)
    )
    row = conn.execute(q).mappings().first()
    return None if row is None else dict(row)


def page(conn: Connection, principal: Principal, *, limit: int, after: str | None) -> Page:
    """The applications the caller may see, by id (creation order)."""
    query = select(applications).where(visible(principal))
    return paginate(conn, query, applications.c.id, limit=limit, after=after)
