"""Applications: create, rename, delete; their API keys (shown once) and OAuth2 client
credentials, for production and development. Another consumer's application is a 404."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Conflict, InvalidInput
from tollway.domain.principal import Principal
from tollway.http.deps import Conn, Ctx
from tollway.services import applications, subscriptions
from tollway.web import FormState, page_router, pages_of, read_form, redirect, require_user

router = page_router("/portal/apps")

ENVIRONMENTS = [("production", "Production"), ("development", "Development")]


class NewApplication(BaseModel):
    name: str = Field(min_length=1, max_length=200, title="Application name")
    description: str = Field("", max_length=10_000, title="Description")


class Rename(BaseModel):
    name: str = Field(min_length=1, max_length=200, title="Application name")


class NewKey(BaseModel):
    key_name: str = Field(min_length=1, max_length=200, title="Key name")
    key_environment: Literal["production", "development"] = Field(title="Key environment")


class NewClient(BaseModel):
    client_environment: Literal["production", "development"] = Field(title="Client environment")


def _list(
    request: Request, conn: Conn, user: Principal, form: FormState, status: int = 200
) -> Response:
    apps = applications.list_applications(conn, user, limit=200, after=None).items
    return pages_of(request).render(
        request, "portal/apps.html", {"apps": apps, "form": form}, status=status
    )


@router.get("")
def apps_page(request: Request, conn: Conn) -> Response:
    return _list(request, conn, require_user(request), FormState())


@router.post("")
def create_app(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = require_user(request)
    model, form = read_form(request, NewApplication)
    if model is not None:
        try:
            app = applications.create_application(
                ctx,
                conn,
                user,
                name=model.name.strip(),
                description=model.description,
                token_lifetime_s=None,
            )
        except Conflict as exc:
            form.add("name", exc.detail.capitalize() + ".")
        else:
            response = redirect(request, f"/portal/apps/{app['id']}")
            pages_of(request).add_flash(
                request, response, "success", f"Application “{app['name']}” created."
            )
            return response
    return _list(request, conn, user, form, status=422)


def _app_page(
    request: Request,
    conn: Conn,
    user: Principal,
    app_id: str,
    *,
    status: int = 200,
    **forms: Any,
) -> Response:
    app = applications.get_application(conn, user, app_id)
    subs = [s for s in subscriptions.of_consumer(conn, user) if s["application_id"] == app_id]
    context: dict[str, Any] = {
        "app": app,
        "keys": applications.list_keys(conn, user, app_id),
        "clients": applications.list_clients(conn, user, app_id),
        "subscriptions": subs,
        "environments": ENVIRONMENTS,
        "rename_form": FormState(values={"name": str(app["name"])}),
        "key_form": FormState(values={"key_environment": "production"}),
        "client_form": FormState(values={"client_environment": "production"}),
        "new_key": None,
        "new_client": None,
        "delete_error": None,
        **forms,
    }
    return pages_of(request).render(request, "portal/app.html", context, status=status)


@router.get("/{app_id}")
def app_page(request: Request, conn: Conn, app_id: str) -> Response:
    return _app_page(request, conn, require_user(request), app_id)


@router.post("/{app_id}/rename")
def rename_app(request: Request, conn: Conn, app_id: str) -> Response:
    user = require_user(request)
    applications.get_application(conn, user, app_id)
    model, form = read_form(request, Rename)
    if model is not None:
        try:
            app = applications.update_application(conn, user, app_id, {"name": model.name.strip()})
        except Conflict as exc:
            form.add("name", exc.detail.capitalize() + ".")
        else:
            response = redirect(request, f"/portal/apps/{app_id}")
            pages_of(request).add_flash(
                request, response, "success", f"Renamed to “{app['name']}”."
            )
            return response
    return _app_page(request, conn, user, app_id, status=422, rename_form=form)


@router.post("/{app_id}/delete")
def delete_app(request: Request, conn: Conn, app_id: str) -> Response:
    user = require_user(request)
    app = applications.get_application(conn, user, app_id)
    try:
        applications.delete_application(conn, user, app_id)
    except Conflict as exc:
        return _app_page(request, conn, user, app_id, status=409, delete_error=exc.detail)
    response = redirect(request, "/portal/apps")
    pages_of(request).add_flash(
        request, response, "success", f"Application “{app['name']}” deleted."
    )
    return response


@router.post("/{app_id}/keys")
def create_key(request: Request, ctx: Ctx, conn: Conn, app_id: str) -> Response:
    user = require_user(request)
    applications.get_application(conn, user, app_id)
    model, form = read_form(request, NewKey)
    if model is None:
        return _app_page(request, conn, user, app_id, status=422, key_form=form)
    try:
        row, raw = applications.create_key(
            ctx, conn, user, app_id, environment=model.key_environment, name=model.key_name.strip()
        )
    except InvalidInput as exc:
        form.add_invalid_input(exc, aliases={"name": "key_name", "environment": "key_environment"})
        return _app_page(request, conn, user, app_id, status=422, key_form=form)
    new_key = {"row": row, "raw": raw}
    return _app_page(request, conn, user, app_id, new_key=new_key)


@router.post("/{app_id}/keys/{key_id}/revoke")
def revoke_key(request: Request, ctx: Ctx, conn: Conn, app_id: str, key_id: str) -> Response:
    user = require_user(request)
    applications.revoke_key(ctx, conn, user, app_id, key_id)
    response = redirect(request, f"/portal/apps/{app_id}")
    pages_of(request).add_flash(
        request, response, "success", "Key revoked: calls with it are refused from now on."
    )
    return response


@router.post("/{app_id}/clients")
def create_client(request: Request, ctx: Ctx, conn: Conn, app_id: str) -> Response:
    user = require_user(request)
    applications.get_application(conn, user, app_id)
    model, form = read_form(request, NewClient)
    if model is None:
        return _app_page(request, conn, user, app_id, status=422, client_form=form)
    row, secret = applications.create_client(
        ctx, conn, user, app_id, environment=model.client_environment
    )
    return _app_page(request, conn, user, app_id, new_client={"row": row, "secret": secret})


@router.post("/{app_id}/clients/{client_row_id}/revoke")
def revoke_client(
    request: Request, ctx: Ctx, conn: Conn, app_id: str, client_row_id: str
) -> Response:
    user = require_user(request)
    applications.revoke_client(ctx, conn, user, app_id, client_row_id)
    response = redirect(request, f"/portal/apps/{app_id}")
    pages_of(request).add_flash(
        request, response, "success", "Client revoked: its access tokens are refused from now on."
    )
    return response
