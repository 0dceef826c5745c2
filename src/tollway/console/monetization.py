"""Monetization settings: connect Stripe (secret or restricted key, publishable key,
webhook secret), what to configure at Stripe, whether webhooks arrive, disconnect."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import InvalidInput
from tollway.http.deps import Conn, Ctx
from tollway.services import billing, stripe_connection
from tollway.web import FormState, page_router, pages_of, read_form, redirect

from .access import publisher

router = page_router("/console/settings")
PAGE = "/console/settings/stripe"


class StripeKeysForm(BaseModel):
    secret_key: str = Field(max_length=300, title="Secret or restricted key")
    publishable_key: str = Field(max_length=300, title="Publishable key")
    webhook_secret: str = Field(max_length=2000, title="Webhook signing secret")


def _render(
    request: Request, ctx: Ctx, conn: Conn, form: FormState, *, status: int = 200
) -> Response:
    user = publisher(request)
    info: dict[str, Any] = stripe_connection.status(ctx, conn, user)
    return pages_of(request).render(
        request, "console/stripe.html", {"form": form, "stripe": info}, status=status
    )


@router.get("/stripe")
def stripe_page(request: Request, ctx: Ctx, conn: Conn) -> Response:
    return _render(request, ctx, conn, FormState())


@router.get("/stripe/webhooks")
def webhook_check(request: Request, ctx: Ctx, conn: Conn) -> Response:
    """The "did the test event arrive?" region (htmx), or the whole page."""
    user = publisher(request)
    info = stripe_connection.status(ctx, conn, user)
    return pages_of(request).render(
        request,
        "console/stripe.html",
        {"form": FormState(), "stripe": info},
        partial="console/_webhook_check.html",
    )


@router.post("/stripe")
def connect(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = publisher(request)
    model, form = read_form(request, StripeKeysForm)
    result: dict[str, Any] | None = None
    if model is not None:
        try:
            result = billing.connect_stripe(
                ctx,
                conn,
                user,
                secret_key=model.secret_key,
                publishable_key=model.publishable_key,
                webhook_secret=model.webhook_secret,
            )
        except InvalidInput as exc:
            form.add_invalid_input(exc, aliases={"webhook_secret": "webhook_secret"})
    if result is None:
        return _render(request, ctx, conn, form, status=422)
    response = redirect(request, PAGE)
    mode = "live" if result["livemode"] else "test"
    message = f"Stripe is connected in {mode} mode."
    if result["provisioned_plans"]:
        message += f" {result['provisioned_plans']} plan(s) set up at Stripe."
    pages_of(request).add_flash(request, response, "success", message)
    for error in result["provisioning_errors"]:
        pages_of(request).add_flash(request, response, "warning", error)
    return response


@router.post("/stripe/disconnect")
def disconnect(request: Request, conn: Conn) -> Response:
    user = publisher(request)
    stripe_connection.disconnect(conn, user)
    response = redirect(request, PAGE)
    pages_of(request).add_flash(request, response, "success", "Stripe is disconnected.")
    return response
