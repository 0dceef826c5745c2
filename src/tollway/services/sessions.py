"""Control-plane authentication: admin tokens, personal tokens and sessions.

All three are random bearer tokens (``twt_…``) stored as SHA-256 hashes; a session is a
short-lived token (the portal and the pages also carry it in an HttpOnly, SameSite=Strict
cookie). The REST API and the pages authenticate callers with ``authenticate``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Unauthenticated
from tollway.domain.principal import Principal
from tollway.store import tokens_repo

TOKEN_PREFIX = "twt_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    raw: str  # shown once; only its hash is stored
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
    """A new bearer token of ``kind`` ("admin", "personal" or "session") for the user."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + lifetime if lifetime else None
    token_id = tokens_repo.insert(
        conn,
        user_id=user_id,
        name=name,
        kind=kind,
        token_hash=hash_token(raw),
        display_prefix=raw[:10],
        now=now,
        expires_at=expires,
    )
    return NewToken(token_id, raw, raw[:10], expires)


def create_session(conn: Connection, user_id: str, *, now: datetime, lifetime_s: int) -> NewToken:
    return create_token(
        conn,
        user_id,
        name="session",
        kind="session",
        now=now,
        lifetime=timedelta(seconds=lifetime_s),
    )


def authenticate(conn: Connection, raw: str, now: datetime) -> Principal:
    """Resolve a bearer token (or session) to its user; every failure is the same 401."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise Unauthenticated("missing or invalid credentials")
    row = tokens_repo.with_user(conn, hash_token(raw))
    if (
        row is None
        or row["revoked_at"] is not None
        or row["disabled"]
        or (row["expires_at"] is not None and row["expires_at"] <= now)
    ):
        raise Unauthenticated("missing or invalid credentials")
    return Principal(row["user_id"], row["role"], row["organization_id"], row["email"])


def revoke(conn: Connection, raw: str, now: datetime) -> None:
    """Revoke one token (unknown tokens are ignored)."""
    tokens_repo.revoke(conn, hash_token(raw), now)


def end_sessions(conn: Connection, user_id: str, now: datetime) -> None:
    """Log the user out everywhere: every session ends (personal tokens stay)."""
    tokens_repo.revoke_sessions(conn, user_id, now)


def authenticate_in(ctx: AppContext, raw: str) -> Principal:
    """``authenticate`` in a short read-only transaction of its own."""
    with ctx.tx(read_only=True) as conn:
        return authenticate(conn, raw, ctx.clock.now())
