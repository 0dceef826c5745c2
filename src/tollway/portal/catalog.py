"""The catalog (anyone may browse it), an API's page with its plans side by side and
the cost calculator, and its reference rendered from the stored OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import InvalidInput
from tollway.http.deps import Conn, Ctx
from tollway.services import storefront
from tollway.web import FormState, page_router, pages_of

router = page_router("/portal")

DEFAULT_CALLS = 50_000
Text = Annotated[str, Query(max_length=100)]


@router.get("/apis")
def catalog_page(request: Request, conn: Conn, q: Text = "", tag: Text = "") -> Response:
    apis = storefront.catalog(conn, text=q, tag=tag)
    tags = storefront.all_tags(conn)
    form = FormState(values={"q": q, "tag": tag})
    options = [("", "All tags")] + [(t, t) for t in tags]
    context = {"apis": apis, "tag_options": options, "q": q, "tag": tag, "form": form}
    return pages_of(request).render(
        request, "portal/catalog.html", context, partial="portal/_catalog_results.html"
    )


def _calculation(conn: Conn, api_id: str, plans: list[Any], raw: str) -> dict[str, Any]:
    form = FormState(values={"calls": raw})
    quotes: list[tuple[Any, Any]] = []
    calls = None
    try:
        calls = storefront.parse_calls(raw)
    except InvalidInput as exc:
        form.add_invalid_input(exc)
    if calls is not None:
        quotes = [(p, storefront.quote(conn, api_id, p.id, calls)) for p in plans]
    return {"calc_form": form, "calls": calls, "quotes": quotes}


@router.get("/apis/{api_id}")
def api_page(request: Request, ctx: Ctx, conn: Conn, api_id: str) -> Response:
    api = storefront.published_api(ctx, conn, api_id)
    context = {"api": api, **_calculation(conn, api_id, api["plans"], f"{DEFAULT_CALLS}")}
    return pages_of(request).render(request, "portal/api.html", context)


@router.get("/apis/{api_id}/cost")
def cost_calculator(
    request: Request,
    ctx: Ctx,
    conn: Conn,
    api_id: str,
    calls: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The calculator's answer: the fragment for htmx, the whole API page otherwise."""
    api = storefront.published_api(ctx, conn, api_id)
    context = {"api": api, **_calculation(conn, api_id, api["plans"], calls)}
    status = 422 if context["calc_form"].has_errors else 200
    return pages_of(request).render(
        request, "portal/api.html", context, partial="portal/_cost.html", status=status
    )


@router.get("/apis/{api_id}/reference")
def reference_page(request: Request, ctx: Ctx, conn: Conn, api_id: str) -> Response:
    api = storefront.published_api(ctx, conn, api_id)
    return pages_of(request).render(request, "portal/reference.html", {"api": api})


@router.get("/apis/{api_id}/openapi.json")
def openapi_document(conn: Conn, api_id: str) -> Response:
    return JSONResponse(storefront.document(conn, api_id), headers={"Cache-Control": "no-cache"})
