"""OAuth2 token endpoint (client credentials, RFC 6749 §4.4) and revocation (RFC 7009)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection

from tollway.api.deps import Ctx
from tollway.security.tokens import TokenVerifier, issue_access_token, verify_client_secret
from tollway.store import apps_repo, keys_repo

router = APIRouter(tags=["oauth2"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, error: str, description: str, basic: bool = False) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="tollway"' if basic else 'Bearer realm="tollway"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    cid, _, secret = decoded.partition(":")
    return unquote(cid), unquote(secret)


TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An access token",
        "content": {
            "application/json": {
                "example": {"access_token": "…", "token_type": "Bearer", "expires_in": 3600}
            }
        },
    },
    400: {"description": "RFC 6749 error (invalid_request, unsupported_grant_type)"},
    401: {"description": "RFC 6749 error invalid_client"},
}


@router.post("/oauth2/token", responses=TOKEN_RESPONSES)
def token(
    request: Request,
    ctx: Ctx,
    grant_type: Annotated[str | None, Form(max_length=100)] = None,
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    client_secret: Annotated[str | None, Form(max_length=500)] = None,
    scope: Annotated[str | None, Form(max_length=1000)] = None,
) -> Response:
    """Exchange client credentials (HTTP Basic or form fields) for a bearer token."""
    if grant_type is None:
        return _error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _error(400, "unsupported_grant_type", "only client_credentials is supported")
    basic = _basic(request)
    if basic is not None and client_id is not None:
        return _error(400, "invalid_request", "send client credentials in one place only")
    cid, secret = basic if basic is not None else (client_id or "", client_secret or "")
    if not cid or not secret or "\x00" in cid:
        return _error(401, "invalid_client", "client authentication failed", basic=True)
    now = ctx.clock.now()
    with ctx.tx() as conn:
        client = _authenticated_client(conn, cid, secret)
        if client is None:
            return _error(401, "invalid_client", "client authentication failed", basic=True)
        key = keys_repo.current_signing_key(conn, ctx.secrets, now)
    lifetime = int(client["token_lifetime_s"])
    issued = issue_access_token(
        key,
        client_id=cid,
        application_id=str(client["application_id"]),
        environment=str(client["environment"]),
        lifetime_s=lifetime,
        now_s=int(now.timestamp()),
    )
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": lifetime,
    }
    if scope:
        body["scope"] = scope
    return JSONResponse(body, headers=NO_STORE)


def _authenticated_client(conn: Connection, cid: str, secret: str) -> dict[str, Any] | None:
    """The OAuth client row if it exists, is not revoked and ``secret`` is its secret."""
    client = apps_repo.client_by_client_id(conn, cid)
    if (
        client is None
        or client["revoked_at"] is not None
        or not verify_client_secret(str(client["secret_hash"]), secret)
    ):
        return None
    return client


@router.post("/oauth2/revoke", responses={200: {"description": "Revoked (or unknown)"}})
def revoke(
    ctx: Ctx,
    request: Request,
    token: Annotated[str, Form(max_length=4096)],
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    client_secret: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Revoke an access token (RFC 7009). The client must authenticate and own the token."""
    basic = _basic(request)
    cid, secret = basic if basic is not None else (client_id or "", client_secret or "")
    now = ctx.clock.now()
    with ctx.tx() as conn:
        client = _authenticated_client(conn, cid, secret) if cid and "\x00" not in cid else None
        if client is None:
            return _error(401, "invalid_client", "client authentication failed", basic=True)
        claims = TokenVerifier(keys_repo.public_keys(conn, now)).verify(token, int(now.timestamp()))
        if claims is not None and claims.client_id == cid:
            expires = datetime.fromtimestamp(claims.expires_at_s, UTC)
            keys_repo.revoke_token(conn, claims.jti, expires, now)
    return Response(status_code=200, headers=NO_STORE)
