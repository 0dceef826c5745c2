"""Token signing keys (private half encrypted at rest) and revoked token ids."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, or_, select, update

from tollway.security.secretbox import SecretBox
from tollway.security.tokens import SigningKeyPair, generate_signing_key
from tollway.store import changes
from tollway.store.tables import revoked_tokens, signing_keys


def current_signing_key(conn: Connection, box: SecretBox, now: datetime) -> SigningKeyPair:
    """The active signing key; the first call creates one (and tells the gateways)."""
    row = (
        conn.execute(
            select(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc())
        )
        .mappings()
        .first()
    )
    if row is not None:
        return SigningKeyPair(
            kid=str(row["kid"]),
            private_pem=box.decrypt(row["private_pem_encrypted"]),
            public_pem=str(row["public_pem"]),
        )
    pair = generate_signing_key()
    conn.execute(
        signing_keys.insert().values(
            kid=pair.kid,
            private_pem_encrypted=box.encrypt(pair.private_pem),
            public_pem=pair.public_pem,
            created_at=now,
            retired_at=None,
        )
    )
    changes.bump(conn)
    return pair


def public_keys(conn: Connection, now: datetime | None = None) -> dict[str, str]:
    """Keys whose tokens are still accepted: not retired, or retired in the future (grace)."""
    q = select(signing_keys.c.kid, signing_keys.c.public_pem)
    if now is not None:
        q = q.where(or_(signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > now))
    else:
        q = q.where(signing_keys.c.retired_at.is_(None))
    return {str(k): str(p) for k, p in conn.execute(q)}


def rotate_signing_key(
    conn: Connection, box: SecretBox, now: datetime, grace: timedelta
) -> SigningKeyPair:
    """Retire the active keys (their tokens stay valid for ``grace``) and make a new one.
    ``grace`` of zero invalidates every token signed so far (a leaked key)."""
    conn.execute(
        update(signing_keys)
        .where(signing_keys.c.retired_at.is_(None))
        .values(retired_at=now + grace)
    )
    return current_signing_key(conn, box, now)


def revoke_token(conn: Connection, jti: str, expires_at: datetime, now: datetime) -> None:
    conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
    exists = conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)).first()
    if not exists:
        conn.execute(revoked_tokens.insert().values(jti=jti, expires_at=expires_at))
        changes.bump(conn)
