"""FastAPI dependencies every HTTP adapter shares: the context, the request's
transaction and the signed-in session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Unauthenticated
from tollway.domain.principal import Principal
from tollway.http.transaction import request_transaction
from tollway.services import sessions

#: The cookie carrying a session token (HttpOnly, SameSite=Strict).
SESSION_COOKIE = "tollway_session"


def set_session_cookie(response: Response, raw: str, *, max_age: int, secure: bool = False) -> None:
    """The signed-in session as an HttpOnly, SameSite=Strict cookie for the whole site."""
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_conn(request: Request) -> Connection:
    """The request's transaction (``http.transaction``): opened on first use, committed by
    the middleware after the handler returned and BEFORE the response is sent; a failed
    commit replaces the response with its error. Routes never commit it themselves."""
    return request_transaction(request.scope).connection()


Ctx = Annotated[AppContext, Depends(get_ctx)]
#: The request's transaction; committed before the response is sent (see ``get_conn``).
Conn = Annotated[Connection, Depends(get_conn)]


def session_principal(request: Request, ctx: Ctx, conn: Conn) -> Principal | None:
    """Who is signed in with the session cookie, or None (no cookie, or not valid)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return sessions.authenticate(conn, raw, ctx.clock.now())
    except Unauthenticated:
        return None


SessionUser = Annotated[Principal | None, Depends(session_principal)]
