"""APIs: import from an OpenAPI file or URL, overview, deployments with a connectivity
check, and the lifecycle (publish, deprecate, retire, block)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Conflict, FetchFailed, InvalidInput, NotFound
from tollway.domain.lifecycle import ALLOWED, Lifecycle
from tollway.http.deps import Conn, Ctx
from tollway.services import catalog, upstreams
from tollway.web import FormState, page_router, pages_of, read_form, redirect

from .access import publisher

router = page_router("/console/apis")
ENVIRONMENTS = ("production", "development")

#: What each lifecycle step means for subscribers (shown next to its button).
LIFECYCLE_MEANING: dict[str, str] = {
    "published": "Listed in the portal: consumers can subscribe, and the gateway routes "
    "calls to the deployments.",
    "deprecated": "Current subscribers keep calling and are billed as before; nobody new "
    "can subscribe. Tell them when it will retire.",
    "retired": "Calls are refused for everyone and its paid plans stop selling at Stripe. "
    "This cannot be undone.",
    "blocked": "Calls are refused at once for everyone; subscriptions are kept. Publish "
    "again to reopen.",
}
ACTION_LABELS = {
    "published": "Publish",
    "deprecated": "Deprecate",
    "retired": "Retire",
    "blocked": "Block",
}


class ImportForm(BaseModel):
    url: str | None = Field(None, max_length=2000, title="Document URL")
    file: Any = Field(None, title="OpenAPI file")
    context: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,99}$", title="Path")


class OverviewForm(BaseModel):
    name: str = Field(min_length=1, max_length=200, title="Name")
    description: str = Field("", max_length=10_000, title="Description")


class DeploymentForm(BaseModel):
    environment: Literal["production", "development"]
    upstream_url: str = Field(min_length=1, max_length=2000, title="Upstream URL")


class LifecycleForm(BaseModel):
    state: Literal["published", "deprecated", "retired", "blocked"]


@router.get("")
def api_list(request: Request, conn: Conn) -> Response:
    user = publisher(request)
    page = catalog.list_apis(conn, user, limit=200, after=None)
    return pages_of(request).render(
        request, "console/apis.html", {"apis": page.items, "form": FormState()}
    )


@router.post("/import")
async def import_api(request: Request, ctx: Ctx) -> Response:
    try:
        return await _import(request, ctx)
    finally:  # the uploaded file's temporary file, whatever happened
        for value in request.state.form.values():
            if isinstance(value, UploadFile):
                await value.close()


async def _import(request: Request, ctx: Ctx) -> Response:
    pages = pages_of(request)
    user = await run_in_threadpool(publisher, request)
    model, form = read_form(request, ImportForm)
    api: dict[str, Any] | None = None
    if model is not None:
        try:
            document = await _document(ctx, model)
            api, _ops = await run_in_threadpool(
                catalog.import_api, ctx, user, document, context=model.context
            )
        except InvalidInput as exc:
            form.add_invalid_input(exc, aliases={"file": "file", "url": "url"})
        except FetchFailed as exc:
            form.add("url", f"{exc.detail}.")
        except Conflict as exc:
            form.add("context", exc.detail)
    if api is None:
        page = await run_in_threadpool(_list, request)
        return pages.render(request, "console/apis.html", {"apis": page, "form": form}, status=422)
    response = redirect(request, f"/console/apis/{api['id']}")
    pages.add_flash(
        request,
        response,
        "success",
        f"“{api['name']}” imported with {api['operation_count']} operations.",
    )
    return response


def _list(request: Request) -> list[dict[str, Any]]:
    ctx = request.app.state.ctx
    with ctx.tx(read_only=True) as conn:
        return catalog.list_apis(conn, publisher(request), limit=200, after=None).items


async def _document(ctx: Ctx, model: ImportForm) -> catalog.Document:
    upload = model.file
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(ctx.settings.openapi_max_bytes + 1)
        return catalog.Document(raw, upload.filename, upload.content_type)
    if model.url:
        return await catalog.fetch_document(ctx, model.url.strip())
    raise InvalidInput.at(("file",), "Choose an OpenAPI file or enter its URL.")


def _detail(request: Request, conn: Conn, api_id: str, **extra: Any) -> dict[str, Any]:
    user = publisher(request)
    api = catalog.get_api(conn, user, api_id)
    if not catalog.may_manage(user, api):
        raise NotFound(f"API '{api_id}' not found")
    deployments = {d["environment"]: d for d in api["deployments"]}
    steps = [
        {"state": s.value, "label": ACTION_LABELS[s.value], "meaning": LIFECYCLE_MEANING[s.value]}
        for s in ALLOWED[Lifecycle(api["lifecycle"])]
    ]
    context: dict[str, Any] = {
        "api": api,
        "operations": catalog.operations(conn, user, api_id),
        "deployments": deployments,
        "environments": ENVIRONMENTS,
        "steps": steps,
        "meaning": LIFECYCLE_MEANING,
        "check": None,
        "overview_form": FormState(
            values={"name": str(api["name"]), "description": str(api["description"] or "")}
        ),
        "deploy_forms": {
            env: FormState(
                values={
                    "environment": env,
                    "upstream_url": deployments.get(env, {}).get("upstream_url", ""),
                }
            )
            for env in ENVIRONMENTS
        },
    }
    context.update(extra)
    return context


@router.get("/{api_id}")
def api_page(request: Request, conn: Conn, api_id: str) -> Response:
    return pages_of(request).render(request, "console/api.html", _detail(request, conn, api_id))


@router.post("/{api_id}")
def update_overview(request: Request, ctx: Ctx, conn: Conn, api_id: str) -> Response:
    user = publisher(request)
    model, form = read_form(request, OverviewForm)
    if model is not None:
        catalog.update_api(
            ctx, conn, user, api_id, {"name": model.name, "description": model.description}
        )
        response = redirect(request, f"/console/apis/{api_id}")
        pages_of(request).add_flash(request, response, "success", "Overview saved.")
        return response
    context = _detail(request, conn, api_id, overview_form=form)
    return pages_of(request).render(request, "console/api.html", context, status=422)


@router.post("/{api_id}/deployments")
def deploy(request: Request, ctx: Ctx, conn: Conn, api_id: str) -> Response:
    user = publisher(request)
    model, form = read_form(request, DeploymentForm)
    if model is not None:
        try:
            catalog.deploy(ctx, conn, user, api_id, model.environment, model.upstream_url.strip())
        except InvalidInput as exc:
            form.add_invalid_input(exc)
    if model is None or form.has_errors:
        env = form.value("environment", "production")
        env = env if env in ENVIRONMENTS else "production"
        base = _detail(request, conn, api_id)
        base["deploy_forms"][env] = form
        return pages_of(request).render(request, "console/api.html", base, status=422)
    response = redirect(request, f"/console/apis/{api_id}#deployments")
    pages_of(request).add_flash(
        request,
        response,
        "success",
        f"Deployed to {model.environment}: {model.upstream_url.strip()}",
    )
    return response


@router.post("/{api_id}/deployments/{environment}/check")
def check_deployment(
    request: Request,
    ctx: Ctx,
    conn: Conn,
    api_id: str,
    environment: Literal["production", "development"],
) -> Response:
    user = publisher(request)
    url = upstreams.deployment_url(conn, user, api_id, environment)
    result = upstreams.check_upstream(ctx, environment, url)
    context = _detail(request, conn, api_id, check=result)
    return pages_of(request).render(
        request, "console/api.html", context, partial="console/_upstream_check.html"
    )


@router.post("/{api_id}/lifecycle")
def change_lifecycle(request: Request, ctx: Ctx, conn: Conn, api_id: str) -> Response:
    user = publisher(request)
    model, _form = read_form(request, LifecycleForm)
    if model is None:
        raise InvalidInput("choose a lifecycle step")
    response = redirect(request, f"/console/apis/{api_id}")
    try:
        api = catalog.change_lifecycle(ctx, conn, user, api_id, model.state)
    except Conflict as exc:
        catalog.get_api(conn, user, api_id)  # someone else's API stays a 404
        pages_of(request).add_flash(request, response, "danger", f"Not changed: {exc.detail}.")
        return response
    pages_of(request).add_flash(
        request, response, "success", f"“{api['name']}” is now {api['lifecycle']}."
    )
    return response
