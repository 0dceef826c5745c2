"""Billing as the control plane's rules see it: connecting Stripe, checkout for a paid
subscription and its return, cancelling at the provider, provisioning enabled plans,
publishing usage, invoices and the customer portal, receiving Stripe's webhooks."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tollway.billing import invoices as billing_invoices
from tollway.billing.credentials import StripeCredentials, masked, store_credentials
from tollway.billing.stripe.keys import validate_keys
from tollway.context import AppContext
from tollway.domain.errors import BadRequest, NotFound, TollwayError
from tollway.domain.principal import Principal
from tollway.domain.subscriptions import Cause, SubState
from tollway.store import (
    billing_repo,
    db,
    fence_repo,
    inbox_repo,
    jobs_repo,
    plans_repo,
    usage_push_repo,
)
from tollway.webhooks.signature import SignatureError, verify

log = logging.getLogger(__name__)

#: A gateway not heard from for this long is gone: a cancel does not wait for it.
GATEWAY_LIVENESS_S = 5.0


# -- connecting Stripe ----------------------------------------------------------------


def is_configured(ctx: AppContext) -> bool:
    """Whether any organization has connected Stripe."""
    with ctx.tx(read_only=True) as conn:
        return billing_repo.stripe_configured(conn)


def stripe_settings(ctx: AppContext, conn: Connection, caller: Principal) -> dict[str, Any]:
    """The organization's Stripe connection as shown to its admin or publisher: never a
    secret, only the last four characters of each."""
    caller.require("publisher")
    row = billing_repo.stripe_account(conn, caller.organization_id)
    if row is None:
        return {"configured": False}
    return {
        "configured": True,
        "account_id": row.account_id,
        "livemode": row.livemode,
        "key_kind": row.key_kind,
        "secret_key": f"…{row.secret_key_last4}",
        "publishable_key": masked(row.publishable_key),
        "webhook_secret": f"…{row.webhook_secret_last4}",
        "webhook_url": f"{ctx.settings.resolved_public_url}/webhooks/stripe",
    }


def connect_stripe(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    secret_key: str,
    publishable_key: str,
    webhook_secret: str,
) -> dict[str, Any]:
    """Validate and store the organization's Stripe keys (secrets encrypted), then
    provision every paid plan enabled on its APIs. ``webhook_secret`` may hold several
    secrets, one per line (during a rotation). Returns ``stripe_settings`` plus
    ``provisioned_plans`` and ``provisioning_errors``. The organization's publishers
    and admins may connect it."""
    caller.require("publisher")
    secrets = [s.strip() for s in webhook_secret.splitlines() if s.strip()]
    check = validate_keys(
        secret_key.strip(), publishable_key.strip(), secrets, base_url=ctx.billing.api_base
    )
    creds = StripeCredentials(
        organization_id=caller.organization_id,
        secret_key=secret_key.strip(),
        publishable_key=publishable_key.strip(),
        webhook_secrets=tuple(secrets),
        account_id=check.account_id,
        livemode=check.livemode,
        key_kind=check.kind,
    )
    store_credentials(conn, ctx.secrets, creds, ctx.clock.now())
    engine = ctx.billing.engines.build(creds.secret_key)
    done, errors = 0, []
    for api_id, plan_id in plans_repo.enabled_pairs(conn, caller.organization_id):
        try:
            if ctx.billing.service.provision_plan(api_id, plan_id, conn, engine=engine):
                done += 1
        except TollwayError as exc:
            errors.append(f"plan {plan_id} on API {api_id}: {exc.detail}")
    return {
        **stripe_settings(ctx, conn, caller),
        "provisioned_plans": done,
        "provisioning_errors": errors,
    }


def plan_enabled(ctx: AppContext, conn: Connection, api_id: str, plan_id: str) -> None:
    """A paid plan was enabled on an API (or its price changed): provision it at the
    provider (idempotent); later, when Stripe is connected, if it is not yet."""
    org = plans_repo.get_any(conn, plan_id)["organization_id"]
    if not billing_repo.stripe_configured(conn, org):
        log.info("plan %s enabled before Stripe is connected: provisioned later", plan_id)
        return
    ctx.billing.service.provision_plan(api_id, plan_id, conn)


def stop_selling(
    ctx: AppContext, conn: Connection, *, api_id: str | None = None, plan_id: str | None = None
) -> int:
    """A plan disabled on an API, a plan retired or an API retired: its Stripe prices and
    product are archived (``active=false``) so nothing new can be sold on them. Live
    subscriptions keep their prices and are billed as before (Stripe keeps billing
    archived prices; the meter stays active for their usage). A Stripe error fails the
    whole change (nothing is changed in Tollway either). Returns how many were archived."""
    done = 0
    for api, plan, product in billing_repo.provisioned_active(conn, api_id=api_id, plan_id=plan_id):
        org = plans_repo.get_any(conn, plan)["organization_id"]
        if not billing_repo.stripe_configured(conn, org):
            continue
        ctx.billing.engines.for_org(org).retire_plan(product)
        billing_repo.mark_provisioned_inactive(conn, api, plan, ctx.clock.now())
        done += 1
    return done


# -- subscriptions ----------------------------------------------------------------------


def organization_bills(conn: Connection, organization_id: str) -> bool:
    """Whether the organization has connected Stripe (its paid plans can be paid)."""
    return billing_repo.stripe_configured(conn, organization_id)


def last_checkout_url(conn: Connection, subscription_id: str) -> str | None:
    """The URL of the subscription's last Checkout session (it may have expired)."""
    row = billing_repo.billing_subscription(conn, subscription_id=subscription_id)
    return None if row is None or not row.checkout_url else str(row.checkout_url)


def subscription_of_checkout(conn: Connection, session_id: str) -> str:
    """The subscription a Checkout session pays for; NotFound for an unknown session."""
    row = billing_repo.billing_subscription(conn, checkout_session_id=session_id)
    if row is None:
        raise NotFound("unknown checkout session")
    return str(row.subscription_id)


def subscription_state(ctx: AppContext, subscription_id: str) -> SubState:
    """The subscription's state now (for the Checkout return page's polling)."""
    with ctx.tx(read_only=True) as conn:
        return billing_repo.load_sub(conn, subscription_id).state


def start_checkout(ctx: AppContext, conn: Connection, subscription_id: str) -> str:
    """A Checkout URL for an on-hold paid subscription."""
    return ctx.billing.service.start_checkout(subscription_id, conn)


def complete_checkout(ctx: AppContext, session_id: str) -> SubState:
    """Checkout's success redirect: activate the subscription if Stripe says it is paid
    and the webhook has not yet (exactly once either way; each step commits in its own
    transaction before this returns). Returns the subscription's state now; NotFound
    for a session Tollway did not start."""
    ctx.billing.service.activate_from_checkout(session_id, cause=Cause.USER)
    return ctx.billing.service.checkout_state(session_id)


def cancel_at_provider(ctx: AppContext, conn: Connection, subscription_id: str) -> None:
    """End the subscription at the billing provider too (if its organization bills)."""
    org = billing_repo.organization_of(conn, subscription_id)
    if org is not None and billing_repo.stripe_configured(conn, org):
        ctx.billing.service.cancel(subscription_id, Cause.USER, conn=conn)


def end_access(ctx: AppContext, subscription_id: str) -> bool:
    """End the subscription's access at every gateway before its final usage is cut:
    fence it (gateways refuse it from their next configuration), then wait until every
    live gateway acknowledged that configuration — which a gateway does only once the
    calls it admitted before are in the ledger. True when all did within
    ``TOLLWAY_CANCEL_FENCE_TIMEOUT_S``; False (logged) when one did not (then the calls
    it serves meanwhile may miss the final invoice)."""
    with ctx.tx() as conn:
        version = fence_repo.fence(conn, subscription_id, ctx.clock.now())
    deadline = time.monotonic() + ctx.settings.cancel_fence_timeout_s
    while True:
        with ctx.tx(read_only=True) as conn:
            seen_since = datetime.now(UTC) - timedelta(seconds=GATEWAY_LIVENESS_S)
            waiting = fence_repo.behind(conn, version, seen_since)
        if not waiting:
            return True
        if time.monotonic() > deadline:
            log.warning(
                "cancel of %s: gateway(s) %s did not acknowledge the end of access",
                subscription_id,
                ", ".join(waiting),
            )
            return False
        time.sleep(0.02)


def restore_access(ctx: AppContext, subscription_id: str) -> None:
    """Lift the fence (the cancel failed, or finished)."""
    with ctx.tx() as conn:
        fence_repo.unfence(conn, subscription_id)


def flush_usage(ctx: AppContext, subscription_id: str) -> None:
    """Push the subscription's usage so far, in transactions of its own (each push is
    recorded before it is sent, so a later rollback elsewhere cannot orphan it)."""
    result = ctx.billing.usage.flush(subscription_id)
    if result.errors:
        log.warning("usage flush before cancel: %s", "; ".join(result.errors))


def portal_url(ctx: AppContext, conn: Connection, caller: Principal, sub_id: str) -> str:
    """A Stripe customer-portal URL for the caller's own subscription (anyone else's is
    a 404, exactly as for an id that does not exist)."""
    billing_repo.load_own_sub(conn, sub_id, caller.user_id)
    return ctx.billing.service.portal_url(sub_id, caller.user_id, conn)


# -- usage ------------------------------------------------------------------------------


def publish_usage(ctx: AppContext, conn: Connection, caller: Principal) -> dict[str, Any]:
    """Queue a job pushing all usage to Stripe now (open windows included); the job runs
    once its row is committed (never for a request that rolled back). Returns the job.
    Publishers may run it too: it only pushes now what the usage worker would push."""
    caller.require("publisher")
    job_id = jobs_repo.create(conn, jobs_repo.PUBLISH_USAGE, caller.user_id, ctx.clock.now())
    job = jobs_repo.get(conn, job_id)
    assert job is not None
    worker = threading.Thread(target=_run_publish, args=(ctx, job_id), daemon=True)
    db.after_commit(conn, worker.start)
    return job


def _run_publish(ctx: AppContext, job_id: str) -> None:
    jobs_repo.start(ctx.engine, job_id, ctx.clock.now())
    try:
        result = ctx.billing.usage.flush()
        jobs_repo.finish(
            ctx.engine,
            job_id,
            ctx.clock.now(),
            events=result.pushed,
            errors=result.errors,
            detail={"planned": result.planned, "value_pushed": result.value_pushed},
        )
    except Exception as exc:
        log.exception("publish usage job %s failed", job_id)
        jobs_repo.finish(ctx.engine, job_id, ctx.clock.now(), events=0, errors=[str(exc)])


def publish_usage_status(conn: Connection, caller: Principal) -> dict[str, Any]:
    caller.require("publisher")
    job = jobs_repo.last(conn, jobs_repo.PUBLISH_USAGE)
    if job is None:
        raise NotFound("usage has not been published yet")
    # Stripe's asynchronous meter validation: what it could not count, reported later
    return {
        **job,
        "failed_windows": usage_push_repo.failed_count(conn),
        "meter_errors": usage_push_repo.meter_errors(conn),
    }


# -- invoices ---------------------------------------------------------------------------


def invoices(ctx: AppContext, conn: Connection, caller: Principal) -> list[dict[str, Any]]:
    """The caller's invoices from every Stripe account billing them, newest first."""
    engines = ctx.billing.engines
    found = [
        invoice
        for org, customer in billing_repo.customers_of(conn, caller.user_id)
        for invoice in engines.for_org(org).list_invoices(customer)
    ]
    found.sort(key=lambda i: i.created, reverse=True)
    return [billing_invoices.invoice_dict(i) for i in found]


def upcoming_invoice(
    ctx: AppContext, conn: Connection, caller: Principal, subscription_id: str
) -> dict[str, Any]:
    """Stripe's preview of the next invoice next to Tollway's own estimate (pricing core)."""
    consumer = None if caller.is_admin else caller.user_id
    # Ownership first: someone else's subscription is a 404 like a nonexistent one, never
    # a 409 from its organization's Stripe configuration.
    sub = billing_repo.load_own_sub(conn, subscription_id, consumer)
    engine = ctx.billing.engines.for_org(sub.organization_id)
    settled_before = ctx.clock.now() - timedelta(seconds=ctx.settings.stripe_meter_lag_s)
    return billing_invoices.upcoming(
        conn, engine, subscription_id, consumer, settled_before=settled_before
    )


# -- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedEvent:
    event_id: str
    new: bool  # False for a duplicate delivery


def receive_webhook(ctx: AppContext, payload: bytes, signature: str | None) -> ReceivedEvent:
    """Verify a Stripe delivery on its raw body against every organization's signing
    secrets and store it in the inbox (committed before this returns). BadRequest for a
    bad signature or a body that is not an event; apply it with ``apply_webhook``."""
    now = int(ctx.clock.now().timestamp())
    organization_id: str | None = None
    error = "no webhook signing secret is configured"
    for org, secrets in ctx.billing.engines.webhook_secrets():
        try:
            verify(payload, signature, secrets, now=now)
            organization_id = org
            break
        except SignatureError as exc:
            error = str(exc)
    if organization_id is None:
        raise BadRequest(f"invalid signature: {error}")
    try:
        event = json.loads(payload)
        event_id = str(event["id"])
    except (ValueError, KeyError, TypeError):
        raise BadRequest("the body is not a Stripe event") from None
    new = inbox_repo.record(ctx.engine, event, organization_id, ctx.clock.now())
    return ReceivedEvent(event_id, new)


def apply_webhook(ctx: AppContext, event_id: str) -> None:
    """Apply a stored event (the webhook worker retries it if this fails)."""
    ctx.billing.webhooks.process(event_id)
