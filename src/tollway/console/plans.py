"""Plans: every pricing model with a live price preview (the pricing core rates 0 to 1M
calls), limits, a price change with who it affects, enabling per API, retiring."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Conflict, InvalidInput
from tollway.domain.principal import Principal
from tollway.http.deps import Conn, Ctx
from tollway.services import catalog, plan_pricing, plan_versions, plans
from tollway.web import FormState, page_router, pages_of, read_form, redirect

from .access import publisher
from .plan_form import (
    INTERVALS,
    MODELS,
    QUOTA_MODES,
    RATE_UNITS,
    TIER_ROWS,
    PlanForm,
    PriceChangeForm,
    PricingFields,
    pricing_of,
    values_of,
)

router = page_router("/console/plans")
NEW_PLAN_DEFAULTS = {
    "currency": "USD",
    "billing_interval": "month",
    "pricing.flat_fee": "0",
    "pricing.usage.model": "unit",
    "pricing.usage.unit_amount": "0.001",
    "rate_limit_per": "minute",
    "quota_mode": "hard",
}


def _choices(conn: Connection, user: Principal) -> dict[str, Any]:
    meters = [(m["key"], m["key"]) for m in plans.list_meters(conn, user)]
    return {
        "models": MODELS,
        "intervals": INTERVALS,
        "rate_units": RATE_UNITS,
        "quota_modes": QUOTA_MODES,
        "tier_rows": range(TIER_ROWS),
        "meters": meters,
    }


def _preview(
    conn: Connection, user: Principal, form: FormState, model: PricingFields | None
) -> dict[str, Any]:
    """The preview rows, or the errors that prevent one (also put on ``form``)."""
    if model is None:
        return {"rows": [], "problem": "Correct the highlighted fields to see the prices."}
    try:
        rows = plan_pricing.preview(conn, user, pricing_of(model), model.currency)
    except InvalidInput as exc:
        form.add_invalid_input(exc)
        return {"rows": [], "problem": "Correct the highlighted fields to see the prices."}
    return {"rows": rows, "problem": None}


@router.get("")
def plan_list(request: Request, conn: Conn) -> Response:
    user = publisher(request)
    items = plans.list_plans(conn, user, limit=200, after=None).items
    own = [p for p in items if user.is_admin or p["organization_id"] == user.organization_id]
    rows = [{**p, "summary": plan_pricing.describe(p)} for p in own]
    return pages_of(request).render(request, "console/plans.html", {"plans": rows})


@router.get("/new")
def new_plan(request: Request, conn: Conn) -> Response:
    user = publisher(request)
    form = FormState(values=dict(NEW_PLAN_DEFAULTS))
    model = PricingFields(
        pricing={"flat_fee": "0", "usage": {"model": "unit", "unit_amount": "0.001"}}
    )
    context = {"form": form, "preview": _preview(conn, user, form, model), **_choices(conn, user)}
    return pages_of(request).render(request, "console/plan_new.html", context)


@router.post("/preview")
def preview(request: Request, conn: Conn) -> Response:
    """The preview table for what the form holds now (htmx swaps it in as people type;
    without JavaScript the Preview button shows the whole page with it)."""
    user = publisher(request)
    model, form = read_form(request, PricingFields)
    context = {"form": form, "preview": _preview(conn, user, form, model), **_choices(conn, user)}
    return pages_of(request).render(
        request, "console/plan_new.html", context, partial="console/_plan_preview.html"
    )


@router.post("")
def create_plan(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = publisher(request)
    model, form = read_form(request, PlanForm)
    plan: dict[str, Any] | None = None
    if model is not None:
        try:
            plan = plans.create_plan(
                ctx,
                conn,
                user,
                name=model.name,
                description=model.description,
                currency=model.currency,
                billing_interval=model.billing_interval,
                pricing=pricing_of(model),
                rate_limit=model.rate_limit(),
                quota=model.quota(),
            )
        except InvalidInput as exc:
            form.add_invalid_input(exc)
    if plan is None:
        context = {"form": form, "preview": _preview(conn, user, FormState(), model)}
        context.update(_choices(conn, user))
        return pages_of(request).render(request, "console/plan_new.html", context, status=422)
    response = redirect(request, f"/console/plans/{plan['id']}")
    pages_of(request).add_flash(request, response, "success", f"Plan “{plan['name']}” created.")
    return response


def _detail(request: Request, conn: Conn, plan_id: str, **extra: Any) -> dict[str, Any]:
    user = publisher(request)
    plan = plans.get_plan(conn, user, plan_id)
    impact = plan_pricing.price_change_impact(conn, user, plan_id)  # 404 unless managed
    apis = catalog.list_apis(conn, user, limit=200, after=None).items
    mine = [a for a in apis if a["organization_id"] == plan["organization_id"]]
    form = FormState(values=values_of(plan))
    model = PricingFields(pricing=plan["pricing"], currency=str(plan["currency"]))
    lines = plan_pricing.usage_lines(plan)
    several = len(lines) > 1  # the form edits one usage price: shown read-only
    preview = (
        {"rows": plan_pricing.preview(conn, user, plan["pricing"], model.currency)}
        if several
        else _preview(conn, user, FormState(), model)
    )
    context: dict[str, Any] = {
        "plan": plan,
        "summary": plan_pricing.describe(plan),
        "usage_lines": lines if several else [],
        "impact": impact,
        "apis": [{**a, "enabled": _enabled(conn, user, a, plan_id)} for a in mine],
        "form": form,
        "preview": preview,
        "versions": plan_versions.list_versions(conn, user, plan_id),
        **_choices(conn, user),
    }
    context.update(extra)
    return context


def _enabled(conn: Connection, user: Principal, api: dict[str, Any], plan_id: str) -> bool:
    return any(
        str(p["plan_id"]) == plan_id and bool(p.get("enabled"))
        for p in catalog.api_plans(conn, user, str(api["id"]))
    )


@router.get("/{plan_id}")
def plan_page(request: Request, conn: Conn, plan_id: str) -> Response:
    return pages_of(request).render(request, "console/plan.html", _detail(request, conn, plan_id))


@router.post("/{plan_id}/pricing")
def change_price(request: Request, ctx: Ctx, conn: Conn, plan_id: str) -> Response:
    user = publisher(request)
    model, form = read_form(request, PriceChangeForm)
    version: dict[str, Any] = {}
    if model is not None:
        try:
            version = plans.publish_version(
                ctx, conn, user, plan_id, {"pricing": pricing_of(model)},
                model.existing_subscribers,
            )  # fmt: skip
        except InvalidInput as exc:
            form.add_invalid_input(exc)
    if model is None or form.has_errors:
        context = _detail(request, conn, plan_id)
        context["form"] = form
        return pages_of(request).render(request, "console/plan.html", context, status=422)
    impact = plan_pricing.price_change_impact(conn, user, plan_id)
    response = redirect(request, f"/console/plans/{plan_id}")
    label, live = version["label"], impact.live_subscriptions
    existing = (
        f"{live} live subscription(s) keep their version (grandfathered)"
        if version["existing_subscribers"] == "stay"
        else f"{live} live subscription(s) move to it at their next renewal"
    )
    message = f"New price saved as {label}. {existing}; new subscriptions get it now."
    pages_of(request).add_flash(request, response, "success", message)
    return response


@router.post("/{plan_id}/apis/{api_id}")
def enable_on_api(request: Request, ctx: Ctx, conn: Conn, plan_id: str, api_id: str) -> Response:
    user = publisher(request)
    enabled = request.state.form.get("enabled") == "true"
    response = redirect(request, f"/console/plans/{plan_id}")
    try:
        catalog.set_api_plan(ctx, conn, user, api_id, plan_id, enabled=enabled)
    except Conflict as exc:
        pages_of(request).add_flash(request, response, "danger", f"Not changed: {exc.detail}.")
        return response
    word = "enabled" if enabled else "disabled"
    pages_of(request).add_flash(request, response, "success", f"Plan {word} on the API.")
    return response


@router.post("/{plan_id}/retire")
def retire(request: Request, ctx: Ctx, conn: Conn, plan_id: str) -> Response:
    user = publisher(request)
    plan = plans.retire_plan(ctx, conn, user, plan_id)
    response = redirect(request, f"/console/plans/{plan_id}")
    pages_of(request).add_flash(
        request, response, "success", f"Plan “{plan['name']}” retired: no new subscriptions."
    )
    return response
