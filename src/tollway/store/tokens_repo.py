"""Control-plane bearer tokens (``api_tokens``): admin, personal and session tokens,
stored as SHA-256 hashes of the raw token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from tollway.domain.ids import new_id
from tollway.store.tables import api_tokens, users


def insert(
    conn: Connection,
    *,
    user_id: str,
    name: str,
    kind: str,
    token_hash: str,
    display_prefix: str,
    now: datetime,
    expires_at: datetime | None,
) -> str:
    token_id = new_id("tok")
    conn.execute(
        api_tokens.insert().values(
            id=token_id,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            display_prefix=display_prefix,
            kind=kind,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token_id


def with_user(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """The token with this hash and its user's id, role, organization, email and
    ``disabled`` flag; None if there is none."""
    row = (
        conn.execute(
            select(
                api_tokens.c.id,
                api_tokens.c.expires_at,
                api_tokens.c.revoked_at,
                users.c.id.label("user_id"),
                users.c.role,
                users.c.organization_id,
                users.c.email,
                users.c.disabled,
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == token_hash)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def revoke(conn: Connection, token_hash: str, now: datetime) -> None:
    conn.execute(
        update(api_tokens).where(api_tokens.c.token_hash == token_hash).values(revoked_at=now)
    )


def revoke_sessions(conn: Connection, user_id: str, now: datetime) -> None:
    """End every live session of the user (personal and admin tokens stay)."""
    conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.user_id == user_id,
            api_tokens.c.kind == "session",
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
