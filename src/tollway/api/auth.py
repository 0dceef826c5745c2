"""Control-plane authentication: admin tokens, personal tokens and portal sessions.

All three are random bearer tokens (``twt_…``) stored as SHA-256 hashes in ``api_tokens``;
a session is a short-lived token also set as an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from tollway.domain.errors import Unauthenticated
from tollway.domain.ids import new_id
from tollway.domain.principal import Principal
from tollway.store.tables import api_tokens, users

TOKEN_PREFIX = "twt_"  # noqa: S105 - a prefix, not a secret
SESSION_COOKIE = "tollway_session"


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    raw: str
    display_prefix: str
    expires_at: datetime | None


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_token(
    conn: Connection,
    user_id: str,
    *,
    name: str,
    kind: str,
    now: datetime,
    lifetime: timedelta | None = None,
) -> NewToken:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    expires = now + lifetime if lifetime else None
    conn.execute(
        api_tokens.insert().values(
            id=token_id,
            user_id=user_id,
            name=name,
            token_hash=hash_token(raw),
            display_prefix=raw[:10],
            kind=kind,
            created_at=now,
            expires_at=expires,
        )
    )
    return NewToken(token_id, raw, raw[:10], expires)


def authenticate(conn: Connection, raw: str, now: datetime) -> Principal:
    """Resolve a bearer token to its user; every failure is the same 401."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise Unauthenticated("missing or invalid credentials")
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
            .where(api_tokens.c.token_hash == hash_token(raw))
        )
        .mappings()
        .first()
    )
    if (
        row is None
        or row["revoked_at"] is not None
        or row["disabled"]
        or (row["expires_at"] is not None and row["expires_at"] <= now)
    ):
        raise Unauthenticated("missing or invalid credentials")
    return Principal(row["user_id"], row["role"], row["organization_id"], row["email"])


def revoke(conn: Connection, raw: str, now: datetime) -> None:
    conn.execute(
        update(api_tokens).where(api_tokens.c.token_hash == hash_token(raw)).values(revoked_at=now)
    )
