"""Monetization settings: connect Stripe (secret or restricted key, publishable key,
webhook secret), what to configure at Stripe, whether webhooks arrive, disconnect, and
tax (Stripe Tax)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import InvalidInput
from tollway.domain.tax import TaxSettings
from tollway.http.deps import Conn, Ctx
from tollway.services import billing, stripe_connection, tax
from tollway.web import FormState, page_router, pages_of, read_form, redirect

from .access import publisher

router = page_router("/console/settings")
PAGE = "/console/settings/stripe"


class StripeKeysForm(BaseModel):
    secret_key: str = Field(max_length=300, title="Secret or restricted key")
    publishable_key: str = Field(max_length=300, title="Publishable key")
    webhook_secret: str = Field(max_length=2000, title="Webhook signing secret")


class TaxForm(BaseModel):
    automatic_tax: bool = Field(False, title="Stripe Tax")
    tax_id_collection: bool = Field(False, title="Tax ID collection")
    billing_address_collection: Literal["auto", "required"] = Field("auto", title="Billing address")


def _render(
    request: Request,
    ctx: Ctx,
    conn: Conn,
    form: FormState,
    *,
    status: int = 200,
    tax_form: FormState | None = None,
) -> Response:
    user = publisher(request)
    info: dict[str, Any] = stripe_connection.status(ctx, conn, user)
    if tax_form is None:
        current = tax.get(conn, user)
        tax_form = FormState(
            values={k: str(v).lower() if isinstance(v, bool) else v for k, v in current.items()}
        )
    context = {"form": form, "stripe": info, "tax_form": tax_form}
    return pages_of(request).render(request, "console/stripe.html", context, status=status)


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
        {"form": FormState(), "stripe": info, "tax_form": FormState()},
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


@router.post("/stripe/tax")
def save_tax(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = publisher(request)
    model, form = read_form(request, TaxForm)
    if model is None:
        return _render(request, ctx, conn, FormState(), status=422, tax_form=form)
    value = TaxSettings(
        automatic_tax=model.automatic_tax,
        tax_id_collection=model.tax_id_collection,
        billing_address_collection=model.billing_address_collection,
    )
    tax.put(ctx, conn, user, value)
    response = redirect(request, PAGE)
    message = (
        "Stripe Tax is on: new Checkout sessions collect tax; estimates are before tax."
        if value.automatic_tax
        else "Stripe Tax is off for new Checkout sessions."
    )
    pages_of(request).add_flash(request, response, "success", message)
    return response


@router.post("/stripe/disconnect")
def disconnect(request: Request, conn: Conn) -> Response:
    user = publisher(request)
    stripe_connection.disconnect(conn, user)
    response = redirect(request, PAGE)
    pages_of(request).add_flash(request, response, "success", "Stripe is disconnected.")
    return response
