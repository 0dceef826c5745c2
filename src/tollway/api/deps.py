"""FastAPI dependencies: the context, a transaction per request, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Connection

from tollway.api.auth import SESSION_COOKIE, authenticate
from tollway.api.context import AppContext
from tollway.api.transaction import request_transaction
from tollway.domain.errors import Forbidden, Unauthenticated
from tollway.domain.principal import Principal

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_conn(request: Request) -> Connection:
    """The request's transaction (``api.transaction``): opened on first use, committed by
    the middleware after the handler returned and BEFORE the response is sent; a failed
    commit replaces the response with its error. Routes never commit it themselves."""
    return request_transaction(request.scope).connection()


#: The request's transaction; committed before the response is sent (see ``get_conn``).
Conn = Annotated[Connection, Depends(get_conn)]


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


def get_principal(request: Request, conn: Conn) -> Principal:
    return authenticate(conn, _raw_token(request), get_ctx(request).clock.now())


def get_caller_outside_tx(request: Request) -> Principal:
    """The caller resolved in its own short read-only transaction, for handlers that open
    their own transaction later (a request-long write transaction would hold SQLite's lock
    across slow work such as fetching an OpenAPI document)."""
    raw = _raw_token(request)
    ctx = get_ctx(request)
    with ctx.tx(read_only=True) as conn:
        return authenticate(conn, raw, ctx.clock.now())


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


Ctx = Annotated[AppContext, Depends(get_ctx)]
Caller = Annotated[Principal, Depends(get_principal)]
Admin = Annotated[Principal, Depends(require_admin)]
Publisher = Annotated[Principal, Depends(require_publisher)]
PublisherOutsideTx = Annotated[Principal, Depends(get_publisher_outside_tx)]
CallerOutsideTx = Annotated[Principal, Depends(get_caller_outside_tx)]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
After = Annotated[str | None, Query(max_length=64, description="Cursor: the last id seen")]
