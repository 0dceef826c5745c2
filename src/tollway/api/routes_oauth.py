"""OAuth2 token endpoint (client credentials, RFC 6749 §4.4) and revocation (RFC 7009)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from tollway.api.deps import Ctx
from tollway.services import applications

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
    issued = applications.issue_token(ctx, cid, secret)
    if issued is None:
        return _error(401, "invalid_client", "client authentication failed", basic=True)
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    }
    if scope:
        body["scope"] = scope
    return JSONResponse(body, headers=NO_STORE)


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
    if not applications.revoke_token(ctx, cid, secret, token):
        return _error(401, "invalid_client", "client authentication failed", basic=True)
    return Response(status_code=200, headers=NO_STORE)
