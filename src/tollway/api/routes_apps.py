"""Applications and their credentials: API keys and OAuth2 clients."""

from __future__ import annotations

from fastapi import APIRouter, status

from tollway.api.deps import After, Caller, Conn, Ctx, Limit
from tollway.api.schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    ApplicationIn,
    ApplicationOut,
    ApplicationUpdateIn,
    OAuthClientCreatedOut,
    OAuthClientIn,
    OAuthClientOut,
    PageOut,
)
from tollway.services import applications

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])


@router.post("", response_model=ApplicationOut, status_code=status.HTTP_201_CREATED)
def create_application(body: ApplicationIn, ctx: Ctx, conn: Conn, caller: Caller) -> ApplicationOut:
    row = applications.create_application(
        ctx,
        conn,
        caller,
        name=body.name,
        description=body.description,
        token_lifetime_s=body.token_lifetime_s,
    )
    return ApplicationOut.model_validate(row)


@router.get("", response_model=PageOut[ApplicationOut])
def list_applications(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[ApplicationOut]:
    page = applications.list_applications(conn, caller, limit=limit, after=after)
    return PageOut[ApplicationOut].of(page, [ApplicationOut.model_validate(r) for r in page.items])


@router.get("/{app_id}", response_model=ApplicationOut)
def get_application(app_id: str, conn: Conn, caller: Caller) -> ApplicationOut:
    return ApplicationOut.model_validate(applications.get_application(conn, caller, app_id))


@router.patch("/{app_id}", response_model=ApplicationOut)
def update_application(
    app_id: str, body: ApplicationUpdateIn, conn: Conn, caller: Caller
) -> ApplicationOut:
    changes = body.model_dump(exclude_unset=True)
    return ApplicationOut.model_validate(
        applications.update_application(conn, caller, app_id, changes)
    )


@router.delete(
    "/{app_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "The application has subscriptions"}},
)
def delete_application(app_id: str, conn: Conn, caller: Caller) -> None:
    """Delete an application with its keys and OAuth clients. One with subscriptions (live
    or ended) is kept with its billing history (409)."""
    applications.delete_application(conn, caller, app_id)


@router.post("/{app_id}/keys", response_model=ApiKeyCreatedOut, status_code=status.HTTP_201_CREATED)
def create_key(
    app_id: str, body: ApiKeyIn, ctx: Ctx, conn: Conn, caller: Caller
) -> ApiKeyCreatedOut:
    """Generate an API key. The key is in this response only; Tollway keeps a hash."""
    row, raw = applications.create_key(
        ctx, conn, caller, app_id, environment=body.environment, name=body.name
    )
    return ApiKeyCreatedOut.model_validate({**row, "key": raw})


@router.get("/{app_id}/keys", response_model=list[ApiKeyOut])
def list_keys(app_id: str, conn: Conn, caller: Caller) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(r) for r in applications.list_keys(conn, caller, app_id)]


@router.delete("/{app_id}/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(app_id: str, key_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> None:
    applications.revoke_key(ctx, conn, caller, app_id, key_id)


@router.post(
    "/{app_id}/oauth-clients",
    response_model=OAuthClientCreatedOut,
    status_code=status.HTTP_201_CREATED,
)
def create_client(
    app_id: str, body: OAuthClientIn, ctx: Ctx, conn: Conn, caller: Caller
) -> OAuthClientCreatedOut:
    """OAuth2 client credentials (consumer key + secret) for the token endpoint."""
    row, secret = applications.create_client(
        ctx, conn, caller, app_id, environment=body.environment
    )
    return OAuthClientCreatedOut.model_validate({**row, "client_secret": secret})


@router.get("/{app_id}/oauth-clients", response_model=list[OAuthClientOut])
def list_clients(app_id: str, conn: Conn, caller: Caller) -> list[OAuthClientOut]:
    return [
        OAuthClientOut.model_validate(r) for r in applications.list_clients(conn, caller, app_id)
    ]


@router.delete("/{app_id}/oauth-clients/{client_row_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_client(app_id: str, client_row_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> None:
    """Revoke a client; every token it was issued stops working at the gateway."""
    applications.revoke_client(ctx, conn, caller, app_id, client_row_id)
