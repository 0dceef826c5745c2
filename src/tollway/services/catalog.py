"""The API catalog: create and import APIs, deploy them, move them through their
lifecycle, and offer plans on them ("monetize")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Conflict, InvalidInput, UnsafeUrl
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.openapi.parse import parse_openapi
from tollway.security.ssrf import UrlGuard
from tollway.services import billing, plans
from tollway.store import apis_repo, documents_repo, plans_repo

VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")


def described(conn: Connection, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """APIs with their ``deployments`` and ``operation_count``."""
    rows = list(rows)
    ids = [str(r["id"]) for r in rows]
    deps = apis_repo.deployments(conn, ids)
    counts = apis_repo.operation_counts(conn, ids)
    return [
        {**r, "deployments": deps[str(r["id"])], "operation_count": counts.get(str(r["id"]), 0)}
        for r in rows
    ]


def create_api(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    name: str,
    context: str,
    version: str,
    description: str,
    usage_header: str | None,
) -> dict[str, Any]:
    caller.require("publisher")
    row = apis_repo.create(
        conn,
        organization_id=caller.organization_id,
        name=name,
        context=context,
        version=version,
        description=description,
        usage_header=usage_header,
        now=ctx.clock.now(),
    )
    return described(conn, [row])[0]


@dataclass(frozen=True)
class Document:
    """An OpenAPI document as received (an upload or a fetched URL)."""

    raw: bytes
    filename: str | None
    content_type: str | None


async def fetch_document(ctx: AppContext, url: str) -> Document:
    """GET an OpenAPI document through the SSRF guard, within the size and time limits."""
    guard = UrlGuard(ctx.settings.ssrf_allow)
    fetched = await guard.fetch(
        url, max_bytes=ctx.settings.openapi_max_bytes, timeout_s=ctx.settings.fetch_timeout_s
    )
    return Document(fetched.body, url, fetched.content_type)


def import_api(
    ctx: AppContext,
    caller: Principal,
    document: Document,
    *,
    name: str | None = None,
    context: str | None = None,
    version: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create an API and its operations from an OpenAPI 3.0/3.1 or Swagger 2.0 document.
    Parsing happens before the (short) transaction of its own. Returns (API, operations)."""
    caller.require("publisher")
    limit = ctx.settings.openapi_max_bytes
    if len(document.raw) > limit:
        raise InvalidInput.at(("file",), f"the document is larger than {limit} bytes")
    imported = parse_openapi(
        document.raw, filename=document.filename, content_type=document.content_type
    )
    ver = version or (imported.version if VERSION.fullmatch(imported.version or "") else "v1")
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
        documents_repo.store(
            conn, str(row["id"]), imported.document_json, list(imported.tags), ctx.clock.now()
        )
        return described(conn, [row])[0], ops


def _text(value: str) -> str:
    """Imported text without NUL characters (PostgreSQL refuses them)."""
    return value.replace("\x00", "")


def _opt_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:100]
    return slug or fallback


def list_apis(conn: Connection, caller: Principal, *, limit: int, after: str | None) -> Page:
    """A page of the APIs the caller may see (items described, see ``described``)."""
    page = apis_repo.page(conn, caller, limit=limit, after=after)
    return Page(described(conn, page.items), page.has_more, page.next_cursor)


def get_api(conn: Connection, caller: Principal, api_id: str) -> dict[str, Any]:
    return described(conn, [apis_repo.get(conn, api_id, caller)])[0]


def update_api(
    ctx: AppContext, conn: Connection, caller: Principal, api_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Change name, description or usage header. Name and description cannot be emptied:
    None leaves them as they are (None clears the usage header)."""
    apis_repo.get(conn, api_id, caller, manage=True)
    values = {k: v for k, v in fields.items() if v is not None or k == "usage_header"}
    apis_repo.update_fields(conn, api_id, values, ctx.clock.now())
    return described(conn, [apis_repo.get(conn, api_id, caller, manage=True)])[0]


def operations(conn: Connection, caller: Principal, api_id: str) -> list[dict[str, Any]]:
    apis_repo.get(conn, api_id, caller)
    return apis_repo.operations(conn, api_id)


def deploy(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    api_id: str,
    environment: str,
    upstream_url: str,
) -> dict[str, Any]:
    """Route the environment's calls to ``upstream_url`` (checked by the SSRF guard)."""
    apis_repo.get(conn, api_id, caller, manage=True)
    url = upstream_url.rstrip("/")
    try:
        UrlGuard(ctx.settings.ssrf_allow).check_upstream_url(url)
    except UnsafeUrl as exc:
        message = exc.errors[0].message if exc.errors else exc.detail
        raise UnsafeUrl.at(("upstream_url",), message) from None
    return apis_repo.deploy(conn, api_id, environment, url, ctx.clock.now())


def undeploy(conn: Connection, caller: Principal, api_id: str, environment: str) -> None:
    api = apis_repo.get(conn, api_id, caller, manage=True)
    if api["lifecycle"] == "published" and len(apis_repo.deployments(conn, [api_id])[api_id]) == 1:
        raise Conflict("a published API needs a deployment; deprecate or retire it first")
    apis_repo.undeploy(conn, api_id, environment)


def change_lifecycle(
    ctx: AppContext, conn: Connection, caller: Principal, api_id: str, state: str
) -> dict[str, Any]:
    """Move the API through created → published → deprecated → retired (or blocked)."""
    api = apis_repo.get(conn, api_id, caller, manage=True)
    apis_repo.change_lifecycle(conn, api, state, ctx.clock.now())
    if state == "retired":
        billing.stop_selling(ctx, conn, api_id=api_id)
    return described(conn, [apis_repo.get(conn, api_id, caller, manage=True)])[0]


def may_manage(caller: Principal, api: dict[str, Any]) -> bool:
    return caller.is_admin or (
        caller.role == "publisher" and api["organization_id"] == caller.organization_id
    )


def api_plans(conn: Connection, caller: Principal, api_id: str) -> list[dict[str, Any]]:
    """Plans on the API; consumers (and other organizations) see only enabled ones."""
    api = apis_repo.get(conn, api_id, caller)
    return apis_repo.plans_of(conn, api_id, enabled_only=not may_manage(caller, api))


def set_api_plan(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    api_id: str,
    plan_id: str,
    *,
    enabled: bool,
) -> None:
    """Enable ("monetize") or disable a plan on an API; a paid plan enabled is provisioned
    at the billing provider (once Stripe is connected)."""
    api = apis_repo.get(conn, api_id, caller, manage=True)
    plan = plans_repo.get(conn, plan_id, caller, manage=True)
    if plan["organization_id"] != api["organization_id"]:
        raise Conflict("the plan belongs to another organization than the API")
    if enabled and plan["status"] != "active":
        raise Conflict("a retired plan cannot be enabled")
    apis_repo.set_plan(conn, api_id, plan_id, enabled, ctx.clock.now())
    if enabled and not plans.is_free(plan):
        billing.plan_enabled(ctx, conn, api_id, plan_id)
    elif not enabled:
        billing.stop_selling(ctx, conn, api_id=api_id, plan_id=plan_id)
