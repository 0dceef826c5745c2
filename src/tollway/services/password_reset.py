"""Password reset by email: a signed link that works once and for a short time.

The link carries ``user id . expiry . signature``; the signature is an HMAC (a key derived
from the installation's secret key) over the id, the expiry AND the user's current
password hash. Nothing is stored: setting a new password changes the hash, which
invalidates the link (it works once), and so does any other password change. Asking for
a link never says whether the account exists.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import InvalidInput, NotFound, RateLimited, Unavailable
from tollway.mail import render
from tollway.mail.smtp import from_settings
from tollway.security.passwords import (
    MIN_PASSWORD_LENGTH,
    check_password_policy,
    hash_password,
)
from tollway.security.secretbox import load_or_create_key
from tollway.services import sessions
from tollway.store import users_repo

VALID_MINUTES = 30
MAX_TOKEN = 300
__all__ = ["MIN_PASSWORD_LENGTH", "request_reset", "reset_password", "user_of"]

EXPIRED = "This reset link is invalid, used or expired. Ask for a new one."


def _key(ctx: AppContext) -> bytes:
    settings = ctx.settings
    raw = (
        settings.secret_key.encode()
        if settings.secret_key
        else load_or_create_key(settings.data_dir)
    )
    material = raw.strip().splitlines()[0].strip()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tollway.password-reset")
    return hkdf.derive(material)


def _signature(ctx: AppContext, user_id: str, expires: int, password_hash: str) -> str:
    message = f"{user_id}.{expires}.{password_hash}".encode()
    return hmac.new(_key(ctx), message, hashlib.sha256).hexdigest()


def make_token(ctx: AppContext, conn: Connection, user_id: str) -> str:
    """A reset token for the user, valid for ``VALID_MINUTES``."""
    user = users_repo.get_user(conn, user_id)
    expires = int(ctx.clock.now().timestamp()) + VALID_MINUTES * 60
    return f"{user_id}.{expires}.{_signature(ctx, user_id, expires, str(user['password_hash']))}"


def request_reset(
    ctx: AppContext,
    conn: Connection,
    *,
    email: str,
    link: Callable[[str], str],
    address: str | None = None,
) -> None:
    """Email a reset link (``link(token)``) to ``email`` if it is an account with a
    password; say nothing either way. Without SMTP settings this is refused (503).

    Requests count against the failed-login throttle (per address, and per email under
    a key of their own), so nobody can flood an inbox: past it, 429."""
    now = ctx.clock.now().timestamp()
    key = f"password-reset:{email}"
    wait = ctx.login_throttle.retry_after(key, address, now)
    if wait is not None:
        raise RateLimited("too many reset requests; try again later", retry_after_s=wait)
    ctx.login_throttle.failed(key, address, now)
    mailer = from_settings(ctx.settings)
    if mailer is None:
        raise Unavailable(
            "Email is not configured on this installation, so no reset link can be sent. "
            "Ask the operator to reset your password."
        )
    user = users_repo.find_by_email(conn, email)
    if user is None or user["disabled"] or not user["password_hash"]:
        return
    token = make_token(ctx, conn, str(user["id"]))
    mailer.send(
        render(
            "password_reset",
            to=str(user["email"]),
            brand_name=ctx.settings.brand_name,
            context={"reset_url": link(token), "valid_minutes": VALID_MINUTES},
        )
    )


def user_of(ctx: AppContext, conn: Connection, token: str) -> str:
    """The user id a valid ``token`` is for, else ``InvalidInput`` at ``token``."""
    parts = token.split(".") if len(token) <= MAX_TOKEN else []
    if len(parts) != 3 or not parts[1].isdigit():
        raise InvalidInput.at(("token",), EXPIRED)
    user_id, expires_text, signature = parts
    expires = int(expires_text)
    try:
        user = users_repo.get_user(conn, user_id)
    except NotFound:  # an unknown id is the same refusal as a bad signature
        raise InvalidInput.at(("token",), EXPIRED) from None
    expected = _signature(ctx, user_id, expires, str(user["password_hash"]))
    if (
        not hmac.compare_digest(expected, signature)
        or expires < ctx.clock.now().timestamp()
        or user["disabled"]
    ):
        raise InvalidInput.at(("token",), EXPIRED)
    return user_id


def reset_password(ctx: AppContext, conn: Connection, *, token: str, password: str) -> str:
    """Set a new password with a valid token; every session of the user ends. Returns the
    user's email (to sign in with)."""
    user_id = user_of(ctx, conn, token)
    check_password_policy(password)
    users_repo.set_password_hash(conn, user_id, hash_password(password))
    sessions.end_sessions(conn, user_id, ctx.clock.now())
    return str(users_repo.get_user(conn, user_id)["email"])
