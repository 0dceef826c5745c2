"""APIs: create, import from OpenAPI, deploy, lifecycle, operations, monetized plans."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

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
from tollway.domain.errors import BadRequest, Conflict, InvalidInput, UnsafeUrl
from tollway.openapi.parse import parse_openapi
from tollway.security.ssrf import UrlGuard
from tollway.services import billing
from tollway.store import apis_repo, plans_repo
from tollway.store.rows import paginate
from tollway.store.tables import apis

router = APIRouter(prefix="/api/v1/apis", tags=["apis"])
EnvName = Literal["development", "production"]


def _out(conn: Conn, rows: list[dict[str, Any]]) -> list[ApiOut]:
    ids = [str(r["id"]) for r in rows]
    deps = apis_repo.deployments(conn, ids)
    counts = apis_repo.operation_counts(conn, ids)
    return [
        ApiOut.model_validate(
            {**r, "deployments": deps[str(r["id"])], "operation_count": counts.get(str(r["id"]), 0)}
        )
        for r in rows
    ]


@router.post("", response_model=ApiOut, status_code=status.HTTP_201_CREATED)
def create_api(body: ApiCreateIn, ctx: Ctx, conn: Conn, caller: Publisher) -> ApiOut:
    row = apis_repo.create(
        conn,
        organization_id=caller.organization_id,
        name=body.name,
        context=body.context,
        version=body.version,
        description=body.description,
        usage_header=body.usage_header,
        now=ctx.clock.now(),
    )
    return _out(conn, [row])[0]


def _text(value: str) -> str:
    """Imported text without NUL characters (PostgreSQL refuses them)."""
    return value.replace("\x00", "")


def _opt_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:100]
    return slug or fallback


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
    limit = ctx.settings.openapi_max_bytes
    name: str | None = None
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput.at(
                ("file",), "a multipart field 'file' with the document is required"
            )
        raw = await upload.read(limit + 1)
        filename = upload.filename
        doc_type = upload.content_type
    elif ctype.startswith("application/json"):
        try:
            body = ApiImportUrlIn.model_validate(json.loads(await request.body() or b"null"))
        except ValueError as exc:
            raise InvalidInput.at(("url",), 'send JSON {"url": "https://…"}') from exc
        context = context or body.context
        name = body.name
        guard = UrlGuard(ctx.settings.ssrf_allow)
        fetched = await guard.fetch(
            body.url, max_bytes=limit, timeout_s=ctx.settings.fetch_timeout_s
        )
        raw, filename, doc_type = fetched.body, body.url, fetched.content_type
    else:
        raise BadRequest("send multipart/form-data with a 'file' field or JSON {\"url\": …}")
    if len(raw) > limit:
        raise InvalidInput.at(("file",), f"the document is larger than {limit} bytes")
    imported = parse_openapi(raw, filename=filename, content_type=doc_type)
    ver = version or (
        imported.version
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}", imported.version or "")
        else "v1"
    )
    with ctx.tx() as conn:
        row = apis_repo.create(
            conn,
            organization_id=caller.organization_id,
            name=(name or _text(imported.title))[:200] or "API",
            context=context or _slug(imported.title, "api"),
            version=ver,
            description=_text(imported.description or "")[:10_000],
            usage_header=None,
            now=ctx.clock.now(),
        )
        ops = apis_repo.add_operations(
            conn,
            str(row["id"]),
            (
                (o.method, _text(o.path_template), _opt_text(o.operation_id), _opt_text(o.summary))
                for o in imported.operations
            ),
        )
        out = _out(conn, [row])[0]
    return ApiImportOut(
        **out.model_dump(), operations=[OperationOut.model_validate(o) for o in ops]
    )


@router.get("", response_model=PageOut[ApiOut])
def list_apis(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[ApiOut]:
    page = paginate(
        conn, select(apis).where(apis_repo.visible(caller)), apis.c.id, limit=limit, after=after
    )
    return PageOut[ApiOut].of(page, _out(conn, page.items))


@router.get("/{api_id}", response_model=ApiOut)
def get_api(api_id: str, conn: Conn, caller: Caller) -> ApiOut:
    return _out(conn, [apis_repo.get(conn, api_id, caller)])[0]


@router.patch("/{api_id}", response_model=ApiOut)
def update_api(api_id: str, body: ApiUpdateIn, ctx: Ctx, conn: Conn, caller: Publisher) -> ApiOut:
    apis_repo.get(conn, api_id, caller, manage=True)
    fields = body.model_dump(exclude_unset=True)
    # name and description cannot be empty: null leaves them as they are (null usage_header
    # clears it).
    fields = {k: v for k, v in fields.items() if v is not None or k == "usage_header"}
    apis_repo.update_fields(conn, api_id, fields, ctx.clock.now())
    return _out(conn, [apis_repo.get(conn, api_id, caller, manage=True)])[0]


@router.get("/{api_id}/operations", response_model=list[OperationOut])
def list_operations(api_id: str, conn: Conn, caller: Caller) -> list[OperationOut]:
    apis_repo.get(conn, api_id, caller)
    return [OperationOut.model_validate(o) for o in apis_repo.operations(conn, api_id)]


@router.put("/{api_id}/deployments/{environment}", response_model=DeploymentOut)
def deploy(
    api_id: str, environment: EnvName, body: DeploymentIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> DeploymentOut:
    """Deploy to an environment: the gateway routes that environment's calls to this URL."""
    apis_repo.get(conn, api_id, caller, manage=True)
    url = body.upstream_url.rstrip("/")
    try:
        UrlGuard(ctx.settings.ssrf_allow).check_upstream_url(url)
    except UnsafeUrl as exc:
        message = exc.errors[0].message if exc.errors else exc.detail
        raise UnsafeUrl.at(("upstream_url",), message) from None
    return DeploymentOut.model_validate(
        apis_repo.deploy(conn, api_id, environment, url, ctx.clock.now())
    )


@router.delete("/{api_id}/deployments/{environment}", status_code=status.HTTP_204_NO_CONTENT)
def undeploy(api_id: str, environment: EnvName, conn: Conn, caller: Publisher) -> None:
    api = apis_repo.get(conn, api_id, caller, manage=True)
    if api["lifecycle"] == "published" and len(apis_repo.deployments(conn, [api_id])[api_id]) == 1:
        raise Conflict("a published API needs a deployment; deprecate or retire it first")
    apis_repo.undeploy(conn, api_id, environment)


@router.post("/{api_id}/lifecycle", response_model=ApiOut)
def change_lifecycle(
    api_id: str, body: LifecycleIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> ApiOut:
    """Move the API through created → published → deprecated → retired (or blocked)."""
    api = apis_repo.get(conn, api_id, caller, manage=True)
    apis_repo.change_lifecycle(conn, api, body.state, ctx.clock.now())
    return _out(conn, [apis_repo.get(conn, api_id, caller, manage=True)])[0]


@router.get("/{api_id}/plans", response_model=list[ApiPlanOut])
def list_api_plans(api_id: str, conn: Conn, caller: Caller) -> list[ApiPlanOut]:
    """Plans on this API; consumers see only enabled ones."""
    api = apis_repo.get(conn, api_id, caller)
    manage = caller.is_admin or (
        caller.role == "publisher" and api["organization_id"] == caller.organization_id
    )
    rows = apis_repo.plans_of(conn, api_id, enabled_only=not manage)
    return [ApiPlanOut.model_validate(r) for r in rows]


@router.put("/{api_id}/plans/{plan_id}", response_model=ApiPlanOut)
def set_api_plan(
    api_id: str, plan_id: str, body: ApiPlanIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> ApiPlanOut:
    """Enable ("monetize") or disable a plan on an API."""
    api = apis_repo.get(conn, api_id, caller, manage=True)
    plan = plans_repo.get(conn, plan_id, caller, manage=True)
    if plan["organization_id"] != api["organization_id"]:
        raise Conflict("the plan belongs to another organization than the API")
    if body.enabled and plan["status"] != "active":
        raise Conflict("a retired plan cannot be enabled")
    apis_repo.set_plan(conn, api_id, plan_id, body.enabled, ctx.clock.now())
    if body.enabled and not plans_repo.is_free(plan):
        billing.plan_enabled(ctx, conn, api_id, plan_id)
    return ApiPlanOut(api_id=api_id, plan_id=plan_id, enabled=body.enabled)
