"""Accounts: sign-up, login, logout, users, organizations and personal tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.security.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_against_nothing,
    verify_password,
)
from tollway.services import sessions
from tollway.store import users_repo

ROLES = ("admin", "publisher", "consumer")


@dataclass(frozen=True)
class SignedIn:
    """A user with a new session (the token is shown once)."""

    user: dict[str, Any]
    session: sessions.NewToken


def _signed_in(ctx: AppContext, conn: Connection, user: dict[str, Any]) -> SignedIn:
    token = sessions.create_session(
        conn, str(user["id"]), now=ctx.clock.now(), lifetime_s=ctx.settings.session_lifetime_s
    )
    return SignedIn(user, token)


def sign_up(ctx: AppContext, conn: Connection, *, email: str, name: str, password: str) -> SignedIn:
    """Self-service sign-up of a consumer (developer portal), signed in at once."""
    check_password_policy(password)
    now = ctx.clock.now()
    user = users_repo.create_user(
        conn,
        email=email,
        name=name,
        role="consumer",
        password=password,
        organization_id=users_repo.ensure_default_org(conn, now),
        now=now,
    )
    return _signed_in(ctx, conn, user)


def log_in(
    ctx: AppContext, conn: Connection, *, email: str, password: str, address: str | None = None
) -> SignedIn:
    """A new session for the right email and password; every failure is the same 401.

    Failed logins are throttled per account and per client ``address``
    (``security.login_throttle``): past the limit every attempt is a 429, the right
    password included. An unknown email costs one dummy verification, like a wrong
    password, so the time taken does not say whether the account exists."""
    now = ctx.clock.now().timestamp()
    wait = ctx.login_throttle.retry_after(email, address, now)
    if wait is not None:
        raise RateLimited("too many failed logins; try again later", retry_after_s=wait)
    user = users_repo.find_by_email(conn, email)
    if user is None or not user["password_hash"]:
        ok = verify_against_nothing(password)
    else:
        ok = verify_password(str(user["password_hash"]), password)
    if user is None or not ok or user["disabled"]:
        ctx.login_throttle.failed(email, address, now)
        raise Unauthenticated("wrong email or password")
    ctx.login_throttle.succeeded(email)
    if needs_rehash(str(user["password_hash"])):
        users_repo.set_password_hash(conn, str(user["id"]), hash_password(password))
    return _signed_in(ctx, conn, user)


def log_out(ctx: AppContext, conn: Connection, caller: Principal) -> None:
    """End every session of the caller (personal tokens stay)."""
    sessions.end_sessions(conn, caller.user_id, ctx.clock.now())


def create_personal_token(
    ctx: AppContext, conn: Connection, caller: Principal, *, name: str, expires_in_days: int | None
) -> sessions.NewToken:
    lifetime = timedelta(days=expires_in_days) if expires_in_days else None
    return sessions.create_token(
        conn, caller.user_id, name=name, kind="personal", now=ctx.clock.now(), lifetime=lifetime
    )


def create_user(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    organization_id: str | None = None,
) -> dict[str, Any]:
    """An admin creates a user of any role, in an organization (default: the default one)."""
    _require_admin(caller)
    if password is not None:
        check_password_policy(password)
    now = ctx.clock.now()
    org_id = organization_id or users_repo.ensure_default_org(conn, now)
    users_repo.get_org(conn, org_id)
    return users_repo.create_user(
        conn,
        email=email,
        name=name,
        role=role,
        password=password,
        organization_id=org_id,
        now=now,
    )


def get_user(conn: Connection, caller: Principal, user_id: str) -> dict[str, Any]:
    """A user's profile: your own, or anyone's for an admin (404 otherwise)."""
    if user_id != caller.user_id and not caller.is_admin:
        raise NotFound(f"user '{user_id}' not found")
    return users_repo.get_user(conn, user_id)


def list_users(conn: Connection, caller: Principal, *, limit: int, after: str | None) -> Page:
    _require_admin(caller)
    return users_repo.page_users(conn, limit=limit, after=after)


def create_organization(
    ctx: AppContext, conn: Connection, caller: Principal, *, name: str, slug: str
) -> dict[str, Any]:
    _require_admin(caller)
    return users_repo.create_org(conn, name=name, slug=slug, now=ctx.clock.now())


def list_organizations(
    conn: Connection, caller: Principal, *, limit: int, after: str | None
) -> Page:
    _require_admin(caller)
    return users_repo.page_orgs(conn, limit=limit, after=after)


def _require_admin(caller: Principal) -> None:
    if not caller.is_admin:
        raise Forbidden("admin only")
