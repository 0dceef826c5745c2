"""Billing routes: Stripe settings, publish usage, invoices, portal, checkout return,
and the Stripe webhook endpoint."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tollway.api.deps import Admin, Caller, Conn, Ctx
from tollway.billing import invoices as billing_invoices
from tollway.billing import records
from tollway.billing.credentials import StripeCredentials, masked, store_credentials
from tollway.billing.stripe.keys import validate_keys
from tollway.context import AppContext
from tollway.domain.errors import NotFound, TollwayError
from tollway.domain.subscriptions import Cause, SubState
from tollway.http.deps import get_ctx
from tollway.store import db as store_db
from tollway.store.tables import api_plans, plans
from tollway.webhooks import inbox
from tollway.webhooks.signature import SignatureError, verify
from tollway.workers import jobs

log = logging.getLogger(__name__)
router = APIRouter(tags=["billing"])

#: Stripe events are far smaller; anything bigger is refused before it is verified.
MAX_WEBHOOK_BYTES = 1024 * 1024


class StripeSettingsIn(BaseModel):
    secret_key: str = Field(min_length=1, max_length=255)
    publishable_key: str = Field(min_length=1, max_length=255)
    webhook_secret: str = Field(
        min_length=1,
        max_length=2000,
        description="Webhook signing secret (whsec_…); several, one per line, during a rotation",
    )


class StripeSettingsOut(BaseModel):
    configured: bool
    account_id: str | None = None
    livemode: bool | None = None
    key_kind: str | None = None
    secret_key: str | None = Field(None, description="Only the last four characters")
    publishable_key: str | None = None
    webhook_secret: str | None = Field(None, description="Only the last four characters")
    webhook_url: str | None = None
    provisioned_plans: int | None = None
    provisioning_errors: list[str] = []


def _settings_out(ctx: AppContext, row: Any, **extra: Any) -> StripeSettingsOut:
    if row is None:
        return StripeSettingsOut(configured=False)
    return StripeSettingsOut(
        configured=True,
        account_id=row.account_id,
        livemode=row.livemode,
        key_kind=row.key_kind,
        secret_key=f"…{row.secret_key_last4}",
        publishable_key=masked(row.publishable_key),
        webhook_secret=f"…{row.webhook_secret_last4}",
        webhook_url=f"{ctx.settings.resolved_public_url}/webhooks/stripe",
        **extra,
    )


@router.get("/api/v1/settings/stripe", response_model=StripeSettingsOut)
def get_stripe_settings(ctx: Ctx, conn: Conn, caller: Admin) -> StripeSettingsOut:
    row = records.stripe_account(conn, caller.organization_id)
    return _settings_out(ctx, row)


@router.put("/api/v1/settings/stripe", response_model=StripeSettingsOut)
def put_stripe_settings(
    body: StripeSettingsIn, ctx: Ctx, conn: Conn, caller: Admin
) -> StripeSettingsOut:
    """Validate and store the organization's Stripe keys (secrets encrypted), then
    provision every paid plan enabled on its APIs. Secrets are never returned."""
    rt = ctx.billing
    secrets = [s.strip() for s in body.webhook_secret.splitlines() if s.strip()]
    check = validate_keys(
        body.secret_key.strip(), body.publishable_key.strip(), secrets, base_url=rt.api_base
    )
    creds = StripeCredentials(
        organization_id=caller.organization_id,
        secret_key=body.secret_key.strip(),
        publishable_key=body.publishable_key.strip(),
        webhook_secrets=tuple(secrets),
        account_id=check.account_id,
        livemode=check.livemode,
        key_kind=check.kind,
    )
    store_credentials(conn, ctx.secrets, creds, ctx.clock.now())
    engine = rt.engines.build(creds.secret_key)
    pairs = conn.execute(
        select(api_plans.c.api_id, api_plans.c.plan_id)
        .join(plans, plans.c.id == api_plans.c.plan_id)
        .where(api_plans.c.enabled.is_(True), plans.c.organization_id == caller.organization_id)
    ).fetchall()
    done, errors = 0, []
    for api_id, plan_id in pairs:
        try:
            if rt.service.provision_plan(api_id, plan_id, conn, engine=engine) is not None:
                done += 1
        except TollwayError as exc:
            errors.append(f"plan {plan_id} on API {api_id}: {exc.detail}")
    row = records.stripe_account(conn, caller.organization_id)
    return _settings_out(ctx, row, provisioned_plans=done, provisioning_errors=errors)


# -- publish usage ------------------------------------------------------------------


class JobOut(BaseModel):
    id: str
    kind: str
    state: str
    created_at: Any
    started_at: Any = None
    finished_at: Any = None
    events: int = 0
    errors: int = 0
    detail: dict[str, Any] | None = None


def _run_publish(ctx: AppContext, job_id: str) -> None:
    rt = ctx.billing
    jobs.start(ctx.engine, job_id, ctx.clock.now())
    try:
        result = rt.usage.flush()
        jobs.finish(
            ctx.engine,
            job_id,
            ctx.clock.now(),
            events=result.pushed,
            errors=result.errors,
            detail={"planned": result.planned, "value_pushed": result.value_pushed},
        )
    except Exception as exc:
        log.exception("publish usage job %s failed", job_id)
        jobs.finish(ctx.engine, job_id, ctx.clock.now(), events=0, errors=[str(exc)])


@router.post(
    "/api/v1/monetization/publish-usage",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def publish_usage(ctx: Ctx, conn: Conn, caller: Admin) -> JobOut:
    """Push all usage to Stripe now (including windows still open); returns the job."""
    job_id = jobs.create(conn, jobs.PUBLISH_USAGE, caller.user_id, ctx.clock.now())
    job = jobs.get(conn, job_id)
    # The job runs once its row is committed (never for a request that rolled back).
    worker = threading.Thread(target=_run_publish, args=(ctx, job_id), daemon=True)
    store_db.after_commit(conn, worker.start)
    return JobOut.model_validate(job)


@router.get("/api/v1/monetization/publish-usage/status", response_model=JobOut)
def publish_usage_status(conn: Conn, caller: Admin) -> JobOut:
    job = jobs.last(conn, jobs.PUBLISH_USAGE)
    if job is None:
        raise NotFound("usage has not been published yet")
    return JobOut.model_validate(job)


# -- consumer billing -----------------------------------------------------------------


class InvoiceLineOut(BaseModel):
    description: str
    amount_minor: int
    quantity: int | None
    price_id: str | None


class InvoiceOut(BaseModel):
    id: str | None = Field(description="None for a preview")
    number: str | None
    status: str | None
    currency: str
    total: str = Field(description='Decimal amount, e.g. "12.50"')
    total_minor: int
    amount_due: str
    amount_due_minor: int
    period_start: str
    period_end: str
    link: str | None = Field(description="Hosted invoice page (or PDF)")
    hosted_url: str | None
    pdf_url: str | None
    subscription_id: str | None
    created: int
    lines: list[InvoiceLineOut]


class InvoiceListOut(BaseModel):
    data: list[InvoiceOut]


class EstimateOut(BaseModel):
    usage_quantity: int
    currency: str
    total: str
    total_minor: int
    lines: list[dict[str, Any]]


class UpcomingOut(BaseModel):
    subscription_id: str
    period_start: str | None
    period_end: str | None
    stripe: InvoiceOut | None = Field(description="Stripe's preview of the next invoice")
    tollway_estimate: EstimateOut = Field(description="Tollway's own estimate (pricing core)")
    agrees: bool | None = Field(description="Whether both totals are equal to the cent")


class PortalOut(BaseModel):
    url: str


@router.get("/api/v1/billing/invoices", response_model=InvoiceListOut)
def list_invoices(ctx: Ctx, conn: Conn, caller: Caller) -> dict[str, Any]:
    """The caller's Stripe invoices: number, period, amount, status, hosted link/PDF."""
    engines = ctx.billing.engines
    found = [
        invoice
        for org, customer in billing_invoices.customers_of(conn, caller.user_id)
        for invoice in engines.for_org(org).list_invoices(customer)
    ]
    found.sort(key=lambda i: i.created, reverse=True)
    return {"data": [billing_invoices.invoice_dict(i) for i in found]}


@router.get("/api/v1/billing/upcoming", response_model=UpcomingOut)
def upcoming_invoice(
    ctx: Ctx, conn: Conn, caller: Caller, subscription_id: str = Query(max_length=64)
) -> dict[str, Any]:
    """Stripe's preview of the next invoice next to Tollway's own estimate."""
    rt = ctx.billing
    consumer = None if caller.is_admin else caller.user_id
    # Ownership first: someone else's subscription is a 404 like a nonexistent one, never
    # a 409 from its organization's Stripe configuration.
    sub = records.load_own_sub(conn, subscription_id, consumer)
    engine = rt.engines.for_org(sub.organization_id)
    return billing_invoices.upcoming(conn, engine, subscription_id, consumer)


@router.post("/api/v1/subscriptions/{sub_id}/portal", response_model=PortalOut)
def portal(sub_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> dict[str, str]:
    """A Stripe customer-portal URL — for the caller's own subscriptions only (anyone
    else's is a 404, exactly as for an id that does not exist)."""
    records.load_own_sub(conn, sub_id, caller.user_id)
    url = ctx.billing.service.portal_url(sub_id, caller.user_id, conn)
    return {"url": url}


@router.get("/billing/checkout/success", response_class=HTMLResponse, include_in_schema=False)
def checkout_success(ctx: Ctx, session_id: str = Query(max_length=255)) -> HTMLResponse:
    """Stripe Checkout's success redirect: activates the subscription if the webhook has
    not yet (exactly once either way)."""
    service = ctx.billing.service
    try:
        service.activate_from_checkout(session_id, cause=Cause.USER)
        state = service.checkout_state(session_id)
    except NotFound:
        return HTMLResponse("<h1>Unknown checkout session</h1>", status_code=404)
    back = '<a href="/portal/billing">Back to billing</a>'
    if state in (SubState.CANCELLED, SubState.EXPIRED):
        # Cancelled while the payment was on its way: the Stripe subscription the
        # Checkout created has been cancelled as well (activate_from_checkout).
        return HTMLResponse(
            "<h1>Subscription cancelled</h1><p>This subscription was cancelled before "
            "the payment was processed, so it was not activated; its Stripe subscription "
            f"has been cancelled too and will not renew. {back}</p>"
        )
    if state is SubState.ON_HOLD:
        return HTMLResponse(
            "<h1>Payment pending</h1><p>Stripe has not confirmed the payment yet; your "
            f"subscription becomes active as soon as it does. {back}</p>"
        )
    if state is SubState.BLOCKED:
        return HTMLResponse(
            f"<h1>Thank you!</h1><p>Your subscription is paid but currently blocked. {back}</p>"
        )
    return HTMLResponse(f"<h1>Thank you!</h1><p>Your subscription is active. {back}</p>")


@router.get("/billing/checkout/cancelled", response_class=HTMLResponse, include_in_schema=False)
def checkout_cancelled(subscription_id: str = Query(max_length=64)) -> HTMLResponse:
    """Stripe Checkout's cancel link: nothing was paid; the subscription stays on hold
    (subscribing again returns the same open Checkout page until it expires)."""
    return HTMLResponse(
        "<h1>Checkout cancelled</h1><p>Nothing was charged. Your subscription waits for "
        'payment; <a href="/portal/billing">back to billing</a>.</p>'
    )


# -- webhooks -------------------------------------------------------------------------


@router.post("/webhooks/stripe", include_in_schema=False)
async def stripe_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
    """Verify on the raw body, store in the inbox (keyed by event id), answer 200,
    apply in the background (and by the webhook worker if that fails)."""
    ctx = get_ctx(request)
    rt = ctx.billing
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_WEBHOOK_BYTES):
        return JSONResponse({"error": "payload too large or malformed"}, status_code=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a chunked body is read with a running limit
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        chunks.append(chunk)
    payload = b"".join(chunks)
    header = request.headers.get("stripe-signature")
    now = int(ctx.clock.now().timestamp())
    organization_id: str | None = None
    error = "no webhook signing secret is configured"
    for org, secrets in await run_in_threadpool(rt.engines.webhook_secrets):
        try:
            verify(payload, header, secrets, now=now)
            organization_id = org
            break
        except SignatureError as exc:
            error = str(exc)
    if organization_id is None:
        return JSONResponse({"error": f"invalid signature: {error}"}, status_code=400)
    try:
        event = json.loads(payload)
        event_id = str(event["id"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "the body is not a Stripe event"}, status_code=400)
    new = await run_in_threadpool(inbox.record, ctx.engine, event, organization_id, ctx.clock.now())
    if new:
        background.add_task(rt.webhooks.process, event_id)
    return JSONResponse({"received": True, "duplicate": not new})
