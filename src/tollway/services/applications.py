"""Applications and their credentials: API keys (shown once, stored hashed), OAuth2
clients, and the access tokens the token endpoint issues for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Conflict
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.security.tokens import TokenVerifier, issue_access_token, verify_client_secret
from tollway.services import default_plans
from tollway.store import apps_repo, keys_repo, notify_repo


def create_application(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    name: str,
    description: str,
    token_lifetime_s: int | None,
) -> dict[str, Any]:
    """A new application of the caller; tokens live ``token_lifetime_s`` (default: the
    ``TOLLWAY_TOKEN_LIFETIME_S`` setting). It is subscribed to the default (free) plan
    of every published API that has one."""
    app = apps_repo.create(
        conn,
        caller.user_id,
        name=name,
        description=description,
        token_lifetime_s=token_lifetime_s or ctx.settings.token_lifetime_s,
        now=ctx.clock.now(),
    )
    default_plans.subscribe_new_application(ctx, conn, caller, str(app["id"]))
    return app


def list_applications(
    conn: Connection, caller: Principal, *, limit: int, after: str | None
) -> Page:
    return apps_repo.page(conn, caller, limit=limit, after=after)


def get_application(conn: Connection, caller: Principal, app_id: str) -> dict[str, Any]:
    return apps_repo.get(conn, app_id, caller)


def update_application(
    conn: Connection, caller: Principal, app_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change what the caller set (None leaves a field as it is); a name the owner's
    other application has is a Conflict."""
    app = apps_repo.get(conn, app_id, caller)
    name = changes.get("name")
    if name is not None and apps_repo.name_taken(conn, str(app["owner_id"]), name, app_id):
        raise Conflict(f"you already have an application named '{name}'")
    apps_repo.update_fields(conn, app_id, {k: v for k, v in changes.items() if v is not None})
    return apps_repo.get(conn, app_id, caller)


def delete_application(conn: Connection, caller: Principal, app_id: str) -> None:
    """Delete an application with its keys and clients. One that has subscriptions (live
    or ended) keeps them and their billing history: Conflict (cancel them and revoke its
    credentials instead)."""
    apps_repo.get(conn, app_id, caller)
    if apps_repo.has_subscriptions(conn, app_id):
        raise Conflict(
            "this application has subscriptions, and keeps them and their billing history; "
            "cancel its subscriptions and revoke its keys instead"
        )
    apps_repo.delete(conn, app_id)


def create_key(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    app_id: str,
    *,
    environment: str,
    name: str,
) -> tuple[dict[str, Any], str]:
    """A new API key: (its row, the raw key). The raw key exists only in this answer."""
    app = apps_repo.get(conn, app_id, caller)
    row, raw = apps_repo.create_key(conn, app_id, environment, name, ctx.clock.now())
    _notify_key(ctx, conn, app, "key.created", row)
    return row, raw


def list_keys(conn: Connection, caller: Principal, app_id: str) -> list[dict[str, Any]]:
    apps_repo.get(conn, app_id, caller)
    return apps_repo.keys(conn, app_id)


def revoke_key(
    ctx: AppContext, conn: Connection, caller: Principal, app_id: str, key_id: str
) -> None:
    app = apps_repo.get(conn, app_id, caller)
    apps_repo.revoke_key(conn, app_id, key_id, ctx.clock.now())
    key = next((k for k in apps_repo.keys(conn, app_id) if k["id"] == key_id), None)
    if key is not None:
        _notify_key(ctx, conn, app, "key.revoked", key)


def _notify_key(
    ctx: AppContext, conn: Connection, app: dict[str, Any], type_: str, key: dict[str, Any]
) -> None:
    notify_repo.emit(
        conn,
        str(app["owner_id"]),
        type_,
        {
            "application_id": app["id"],
            "key_id": key["id"],
            "name": key.get("name"),
            "environment": key.get("environment"),
            "prefix": key.get("display_prefix"),
        },
        ctx.clock.now(),
    )


def create_client(
    ctx: AppContext, conn: Connection, caller: Principal, app_id: str, *, environment: str
) -> tuple[dict[str, Any], str]:
    """New OAuth2 client credentials: (the client row, the secret, shown once)."""
    apps_repo.get(conn, app_id, caller)
    return apps_repo.create_client(conn, app_id, environment, ctx.clock.now())


def list_clients(conn: Connection, caller: Principal, app_id: str) -> list[dict[str, Any]]:
    apps_repo.get(conn, app_id, caller)
    return apps_repo.clients(conn, app_id)


def revoke_client(
    ctx: AppContext, conn: Connection, caller: Principal, app_id: str, client_row_id: str
) -> None:
    """Revoke a client; every token it was issued stops working at the gateway."""
    apps_repo.get(conn, app_id, caller)
    apps_repo.revoke_client(conn, app_id, client_row_id, ctx.clock.now())


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds


def authenticated_client(conn: Connection, client_id: str, secret: str) -> dict[str, Any] | None:
    """The OAuth client if it exists, is not revoked and ``secret`` is its secret."""
    if not client_id or not secret or "\x00" in client_id:
        return None
    client = apps_repo.client_by_client_id(conn, client_id)
    if (
        client is None
        or client["revoked_at"] is not None
        or not verify_client_secret(str(client["secret_hash"]), secret)
    ):
        return None
    return client


def issue_token(ctx: AppContext, client_id: str, secret: str) -> IssuedToken | None:
    """Client credentials grant: a signed access token, or None if the client does not
    authenticate (the caller answers invalid_client)."""
    now = ctx.clock.now()
    with ctx.tx() as conn:
        client = authenticated_client(conn, client_id, secret)
        if client is None:
            return None
        key = keys_repo.current_signing_key(conn, ctx.secrets, now)
    lifetime = int(client["token_lifetime_s"])
    issued = issue_access_token(
        key,
        client_id=client_id,
        application_id=str(client["application_id"]),
        environment=str(client["environment"]),
        lifetime_s=lifetime,
        now_s=int(now.timestamp()),
    )
    return IssuedToken(issued.token, lifetime)


def revoke_token(ctx: AppContext, client_id: str, secret: str, token: str) -> bool:
    """RFC 7009: revoke an access token the authenticated client owns (an unknown or
    foreign token is not an error). False if the client does not authenticate."""
    now = ctx.clock.now()
    with ctx.tx() as conn:
        if authenticated_client(conn, client_id, secret) is None:
            return False
        claims = TokenVerifier(keys_repo.public_keys(conn, now)).verify(token, int(now.timestamp()))
        if claims is not None and claims.client_id == client_id:
            expires = datetime.fromtimestamp(claims.expires_at_s, UTC)
            keys_repo.revoke_token(conn, claims.jti, expires, now)
    return True
