"""APIs: create, import from OpenAPI, deploy, lifecycle, operations, monetized plans."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from tollway.api.deps import After, Caller, Conn, Ctx, Limit, Publisher, PublisherOutsideTx
from tollway.api.schemas import (
    ApiCreateIn,
    ApiImportOut,
    ApiImportUrlIn,
    ApiOut,
    ApiPlanIn,
    ApiPlanOut,
    ApiUpdateIn,
    DeploymentIn,
    DeploymentOut,
    LifecycleIn,
    OperationOut,
    PageOut,
)
from tollway.domain.errors import BadRequest, InvalidInput
from tollway.services import catalog

router = APIRouter(prefix="/api/v1/apis", tags=["apis"])
EnvName = Literal["development", "production"]


@router.post("", response_model=ApiOut, status_code=status.HTTP_201_CREATED)
def create_api(body: ApiCreateIn, ctx: Ctx, conn: Conn, caller: Publisher) -> ApiOut:
    row = catalog.create_api(
        ctx,
        conn,
        caller,
        name=body.name,
        context=body.context,
        version=body.version,
        description=body.description,
        usage_header=body.usage_header,
    )
    return ApiOut.model_validate(row)


IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/ApiImportUrlIn"}},
        },
    }
}


@router.post(
    "/import",
    response_model=ApiImportOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=IMPORT_BODY,
)
async def import_api(
    request: Request,
    ctx: Ctx,
    caller: PublisherOutsideTx,
    context: str | None = Query(None, pattern=r"^[a-z0-9][a-z0-9-]{0,99}$"),
    version: str | None = Query(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$"),
) -> ApiImportOut:
    """Import an OpenAPI 3.0/3.1 or Swagger 2.0 document: a multipart ``file`` or ``{"url"}``."""
    ctype = request.headers.get("content-type", "")
    name: str | None = None
    if ctype.startswith("multipart/form-data"):
        async with request.form() as form:  # closes the uploaded files' temporary files
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidInput.at(
                    ("file",), "a multipart field 'file' with the document is required"
                )
            raw = await upload.read(ctx.settings.openapi_max_bytes + 1)
            document = catalog.Document(raw, upload.filename, upload.content_type)
    elif ctype.startswith("application/json"):
        try:
            body = ApiImportUrlIn.model_validate(json.loads(await request.body() or b"null"))
        except ValueError as exc:
            raise InvalidInput.at(("url",), 'send JSON {"url": "https://…"}') from exc
        context = context or body.context
        name = body.name
        document = await catalog.fetch_document(ctx, body.url)
    else:
        raise BadRequest("send multipart/form-data with a 'file' field or JSON {\"url\": …}")
    # Parsing and storing block: off the event loop.
    api, ops = await run_in_threadpool(
        catalog.import_api, ctx, caller, document, name=name, context=context, version=version
    )
    return ApiImportOut.model_validate(
        {**api, "operations": [OperationOut.model_validate(o) for o in ops]}
    )


@router.get("", response_model=PageOut[ApiOut])
def list_apis(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[ApiOut]:
    page = catalog.list_apis(conn, caller, limit=limit, after=after)
    return PageOut[ApiOut].of(page, [ApiOut.model_validate(r) for r in page.items])


@router.get("/{api_id}", response_model=ApiOut)
def get_api(api_id: str, conn: Conn, caller: Caller) -> ApiOut:
    return ApiOut.model_validate(catalog.get_api(conn, caller, api_id))


@router.patch("/{api_id}", response_model=ApiOut)
def update_api(api_id: str, body: ApiUpdateIn, ctx: Ctx, conn: Conn, caller: Publisher) -> ApiOut:
    changes = body.model_dump(exclude_unset=True)
    return ApiOut.model_validate(catalog.update_api(ctx, conn, caller, api_id, changes))


@router.get("/{api_id}/operations", response_model=list[OperationOut])
def list_operations(api_id: str, conn: Conn, caller: Caller) -> list[OperationOut]:
    return [OperationOut.model_validate(o) for o in catalog.operations(conn, caller, api_id)]


@router.put("/{api_id}/deployments/{environment}", response_model=DeploymentOut)
def deploy(
    api_id: str, environment: EnvName, body: DeploymentIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> DeploymentOut:
    """Deploy to an environment: the gateway routes that environment's calls to this URL."""
    row = catalog.deploy(ctx, conn, caller, api_id, environment, body.upstream_url)
    return DeploymentOut.model_validate(row)


@router.delete("/{api_id}/deployments/{environment}", status_code=status.HTTP_204_NO_CONTENT)
def undeploy(api_id: str, environment: EnvName, conn: Conn, caller: Publisher) -> None:
    catalog.undeploy(conn, caller, api_id, environment)


@router.post("/{api_id}/lifecycle", response_model=ApiOut)
def change_lifecycle(
    api_id: str, body: LifecycleIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> ApiOut:
    """Move the API through created → published → deprecated → retired (or blocked)."""
    return ApiOut.model_validate(catalog.change_lifecycle(ctx, conn, caller, api_id, body.state))


@router.get("/{api_id}/plans", response_model=list[ApiPlanOut])
def list_api_plans(api_id: str, conn: Conn, caller: Caller) -> list[ApiPlanOut]:
    """Plans on this API; consumers see only enabled ones."""
    return [ApiPlanOut.model_validate(r) for r in catalog.api_plans(conn, caller, api_id)]


@router.put("/{api_id}/plans/{plan_id}", response_model=ApiPlanOut)
def set_api_plan(
    api_id: str, plan_id: str, body: ApiPlanIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> ApiPlanOut:
    """Enable ("monetize") or disable a plan on an API."""
    catalog.set_api_plan(ctx, conn, caller, api_id, plan_id, enabled=body.enabled)
    return ApiPlanOut(api_id=api_id, plan_id=plan_id, enabled=body.enabled)
