"""Subscribe: choose an application and a plan, see what you will pay, pay in Stripe
Checkout for a paid plan; a subscription's page waits for the payment and updates itself,
offers "Complete payment" while unpaid, "Manage" (Stripe's customer portal) and "Cancel"."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tollway.domain.errors import Conflict, NotFound, TollwayError
from tollway.domain.principal import Principal
from tollway.http.deps import Conn, Ctx
from tollway.services import applications, storefront, subscriptions, usage
from tollway.services import billing as billing_service
from tollway.web import FormState, page_router, pages_of, read_form, redirect, require_user

router = page_router("/portal")

Id = Query(max_length=64)


class SubscribeForm(BaseModel):
    api_id: str = Field(max_length=64)
    application_id: str = Field(max_length=64, title="Application")
    plan_id: str = Field(max_length=64, title="Plan")


def _form_page(
    request: Request, ctx: Ctx, conn: Conn, user: Principal, form: FormState, status: int = 200
) -> Response:
    api = storefront.published_api(ctx, conn, form.value("api_id"))
    apps = applications.list_applications(conn, user, limit=200, after=None).items
    context = {
        "api": api,
        "form": form,
        "app_options": [(a["id"], a["name"]) for a in apps],
        "plan_options": [(p.id, f"{p.name} — {p.words}") for p in api["plans"]],
    }
    return pages_of(request).render(request, "portal/subscribe.html", context, status=status)


@router.get("/subscribe")
def subscribe_page(
    request: Request,
    ctx: Ctx,
    conn: Conn,
    api_id: str = Id,
    plan_id: str = Query("", max_length=64),
    application_id: str = Query("", max_length=64),
) -> Response:
    user = require_user(request)
    values = {"api_id": api_id, "plan_id": plan_id, "application_id": application_id}
    return _form_page(request, ctx, conn, user, FormState(values=values))


@router.post("/subscribe")
def subscribe(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = require_user(request)
    model, form = read_form(request, SubscribeForm)
    if model is None:
        return _form_page(request, ctx, conn, user, form, status=422)
    try:
        row = subscriptions.subscribe(
            ctx,
            conn,
            user,
            application_id=model.application_id,
            api_id=model.api_id,
            plan_id=model.plan_id,
        )
    except NotFound as exc:
        field = "application_id" if "application" in exc.detail else "plan_id"
        form.add(field, "Choose one from the list.")
        return _form_page(request, ctx, conn, user, form, status=422)
    except Conflict as exc:
        form.add("", exc.detail[:1].upper() + exc.detail[1:] + ".")
        return _form_page(request, ctx, conn, user, form, status=409)
    if row.get("checkout_url"):
        return _external(str(row["checkout_url"]))
    response = redirect(request, f"/portal/subscriptions/{row['id']}")
    pages_of(request).add_flash(
        request, response, "success", "Subscribed: your subscription is active."
    )
    return response


def _external(url: str) -> Response:
    """A redirect to Stripe (Checkout, the customer portal): a plain 303 for a form post."""
    return RedirectResponse(url, status_code=303)


def _subscription(conn: Conn, user: Principal, sub_id: str) -> dict[str, Any]:
    sub = subscriptions.get_subscription(conn, user, sub_id)
    if sub["consumer_id"] != user.user_id:
        raise NotFound(sub_id)
    named = next(s for s in subscriptions.of_consumer(conn, user) if s["id"] == sub_id)
    return {**sub, "api_name": named["api_name"], "plan_name": named["plan_name"]}


@router.get("/subscriptions/{sub_id}")
def subscription_page(
    request: Request,
    ctx: Ctx,
    conn: Conn,
    sub_id: str,
    granularity: Literal["day", "hour"] = "day",
) -> Response:
    user = require_user(request)
    sub = _subscription(conn, user, sub_id)
    context = {"sub": sub, **usage_context(ctx, conn, user, sub, granularity)}
    return pages_of(request).render(request, "portal/subscription.html", context)


@router.get("/subscriptions/{sub_id}/status")
def subscription_status(request: Request, conn: Conn, sub_id: str) -> Response:
    """The waiting-for-payment region: the same fragment while on hold (it polls
    again), the final one once the webhook or the return page activated it."""
    user = require_user(request)
    sub = _subscription(conn, user, sub_id)
    return pages_of(request).render(
        request, "portal/_sub_status.html", {"sub": sub}, partial="portal/_sub_status.html"
    )


@router.post("/subscriptions/{sub_id}/checkout")
def complete_payment(request: Request, ctx: Ctx, conn: Conn, sub_id: str) -> Response:
    user = require_user(request)
    _subscription(conn, user, sub_id)
    row = subscriptions.renew_checkout(ctx, conn, user, sub_id)
    return _external(str(row["checkout_url"]))


@router.post("/subscriptions/{sub_id}/manage")
def manage(request: Request, ctx: Ctx, conn: Conn, sub_id: str) -> Response:
    user = require_user(request)
    return _external(billing_service.portal_url(ctx, conn, user, sub_id))


@router.post("/subscriptions/{sub_id}/cancel")
def cancel(request: Request, ctx: Ctx, sub_id: str) -> Response:
    user = require_user(request)
    with ctx.tx(read_only=True) as conn:
        _subscription(conn, user, sub_id)
    subscriptions.cancel(ctx, user, sub_id, reason="cancelled in the developer portal")
    response = redirect(request, f"/portal/subscriptions/{sub_id}")
    pages_of(request).add_flash(request, response, "success", "Subscription cancelled.")
    return response


def usage_context(
    ctx: Ctx, conn: Conn, user: Principal, sub: dict[str, Any], granularity: str = "day"
) -> dict[str, Any]:
    """The subscription's usage and cost: the period summary, the chart's series, Stripe's
    upcoming invoice next to Tollway's estimate (when billed through Stripe) and the plan."""
    summary = usage.summary(ctx, conn, user, str(sub["id"]))
    series = usage.series(ctx, conn, user, str(sub["id"]), granularity=granularity, periods=2)
    chart = {
        "x": [p["start_ms"] // 1000 for p in series["points"]],
        "x_kind": "time",
        "series": [
            {"label": f"{c} calls", "values": [p["calls"][c] for p in series["points"]]}
            for c in series["classes"]
        ]
        or [{"label": "Calls", "values": [0 for _ in series["points"]]}],
    }
    upcoming = None
    if sub["state"] in ("active", "blocked"):
        try:
            upcoming = billing_service.upcoming_invoice(ctx, conn, user, str(sub["id"]))
        except (NotFound, TollwayError):
            upcoming = None
    plan = storefront.plan_card(conn, str(sub["plan_id"]), str(sub["id"]))
    return {
        "usage": summary,
        "chart": chart,
        "granularity": granularity,
        "upcoming": upcoming,
        "plan": plan,
    }
