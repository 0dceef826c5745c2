"""FastAPI dependencies of the REST API: the caller (bearer token or session cookie),
role checks, pagination; the context and the request's transaction come from
``tollway.http.deps``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from tollway.domain.errors import Forbidden, Unauthenticated
from tollway.domain.principal import Principal
from tollway.http.deps import SESSION_COOKIE, Conn, Ctx, get_ctx
from tollway.services import sessions

__all__ = [
    "Admin",
    "After",
    "Caller",
    "CallerOutsideTx",
    "Conn",
    "Ctx",
    "Limit",
    "Publisher",
    "PublisherOutsideTx",
]

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def _raw_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("missing or invalid credentials")
        return value.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        # Cookie sessions are for the portal; unsafe methods must prove same origin.
        if request.method not in SAFE and request.headers.get("x-tollway-csrf") != "1":
            raise Forbidden("cookie-authenticated changes need the X-Tollway-CSRF: 1 header")
        return cookie
    raise Unauthenticated("missing or invalid credentials")


def get_principal(request: Request, ctx: Ctx, conn: Conn) -> Principal:
    return sessions.authenticate(conn, _raw_token(request), ctx.clock.now())


def get_caller_outside_tx(request: Request) -> Principal:
    """The caller resolved in its own short read-only transaction, for handlers that open
    their own transaction later (a request-long write transaction would hold SQLite's lock
    across slow work such as fetching an OpenAPI document)."""
    raw = _raw_token(request)
    ctx = get_ctx(request)
    with ctx.tx(read_only=True) as conn:
        return sessions.authenticate(conn, raw, ctx.clock.now())


def get_publisher_outside_tx(
    principal: Annotated[Principal, Depends(get_caller_outside_tx)],
) -> Principal:
    """A publisher resolved like ``get_caller_outside_tx``."""
    principal.require("publisher")
    return principal


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("admin only")
    return principal


def require_publisher(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    principal.require("publisher")
    return principal


Caller = Annotated[Principal, Depends(get_principal)]
Admin = Annotated[Principal, Depends(require_admin)]
Publisher = Annotated[Principal, Depends(require_publisher)]
PublisherOutsideTx = Annotated[Principal, Depends(get_publisher_outside_tx)]
CallerOutsideTx = Annotated[Principal, Depends(get_caller_outside_tx)]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
After = Annotated[str | None, Query(max_length=64, description="Cursor: the last id seen")]
