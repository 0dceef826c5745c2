"""Applications and their credentials: API keys and OAuth2 clients."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

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
from tollway.store import apps_repo
from tollway.store.rows import paginate
from tollway.store.tables import applications

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])


@router.post("", response_model=ApplicationOut, status_code=status.HTTP_201_CREATED)
def create_application(body: ApplicationIn, ctx: Ctx, conn: Conn, caller: Caller) -> ApplicationOut:
    row = apps_repo.create(
        conn,
        caller.user_id,
        name=body.name,
        description=body.description,
        token_lifetime_s=body.token_lifetime_s or ctx.settings.token_lifetime_s,
        now=ctx.clock.now(),
    )
    return ApplicationOut.model_validate(row)


@router.get("", response_model=PageOut[ApplicationOut])
def list_applications(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[ApplicationOut]:
    page = paginate(
        conn,
        select(applications).where(apps_repo.visible(caller)),
        applications.c.id,
        limit=limit,
        after=after,
    )
    return PageOut[ApplicationOut].of(page, [ApplicationOut.model_validate(r) for r in page.items])


@router.get("/{app_id}", response_model=ApplicationOut)
def get_application(app_id: str, conn: Conn, caller: Caller) -> ApplicationOut:
    return ApplicationOut.model_validate(apps_repo.get(conn, app_id, caller))


@router.patch("/{app_id}", response_model=ApplicationOut)
def update_application(
    app_id: str, body: ApplicationUpdateIn, conn: Conn, caller: Caller
) -> ApplicationOut:
    apps_repo.get(conn, app_id, caller)
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    apps_repo.update_fields(conn, app_id, values)
    return ApplicationOut.model_validate(apps_repo.get(conn, app_id, caller))


@router.post("/{app_id}/keys", response_model=ApiKeyCreatedOut, status_code=status.HTTP_201_CREATED)
def create_key(
    app_id: str, body: ApiKeyIn, ctx: Ctx, conn: Conn, caller: Caller
) -> ApiKeyCreatedOut:
    """Generate an API key. The key is in this response only; Tollway keeps a hash."""
    apps_repo.get(conn, app_id, caller)
    row, raw = apps_repo.create_key(conn, app_id, body.environment, body.name, ctx.clock.now())
    return ApiKeyCreatedOut.model_validate({**row, "key": raw})


@router.get("/{app_id}/keys", response_model=list[ApiKeyOut])
def list_keys(app_id: str, conn: Conn, caller: Caller) -> list[ApiKeyOut]:
    apps_repo.get(conn, app_id, caller)
    return [ApiKeyOut.model_validate(r) for r in apps_repo.keys(conn, app_id)]


@router.delete("/{app_id}/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(app_id: str, key_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> None:
    apps_repo.get(conn, app_id, caller)
    apps_repo.revoke_key(conn, app_id, key_id, ctx.clock.now())


@router.post(
    "/{app_id}/oauth-clients",
    response_model=OAuthClientCreatedOut,
    status_code=status.HTTP_201_CREATED,
)
def create_client(
    app_id: str, body: OAuthClientIn, ctx: Ctx, conn: Conn, caller: Caller
) -> OAuthClientCreatedOut:
    """OAuth2 client credentials (consumer key + secret) for the token endpoint."""
    apps_repo.get(conn, app_id, caller)
    row, secret = apps_repo.create_client(conn, app_id, body.environment, ctx.clock.now())
    return OAuthClientCreatedOut.model_validate({**row, "client_secret": secret})


@router.get("/{app_id}/oauth-clients", response_model=list[OAuthClientOut])
def list_clients(app_id: str, conn: Conn, caller: Caller) -> list[OAuthClientOut]:
    apps_repo.get(conn, app_id, caller)
    return [OAuthClientOut.model_validate(r) for r in apps_repo.clients(conn, app_id)]


@router.delete("/{app_id}/oauth-clients/{client_row_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_client(app_id: str, client_row_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> None:
    """Revoke a client; every token it was issued stops working at the gateway."""
    apps_repo.get(conn, app_id, caller)
    apps_repo.revoke_client(conn, app_id, client_row_id, ctx.clock.now())
