"""Subscriptions: subscribe (free plans active at once, paid ones on hold until paid),
cancel, block and unblock, the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Conflict, IllegalTransition, NotFound
from tollway.domain.lifecycle import SUBSCRIBABLE, Lifecycle
from tollway.domain.paging import Page
from tollway.domain.principal import Principal
from tollway.domain.subscriptions import Cause, SubState
from tollway.services import billing, credits, plan_versions, plans
from tollway.store import apis_repo, apps_repo, credits_repo, plans_repo, subscriptions_repo


def subscribe(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    application_id: str,
    api_id: str,
    plan_id: str,
) -> dict[str, Any]:
    """Subscribe an application to a published API on a plan it offers. Free plans are
    active at once; paid plans wait ``on_hold`` for payment and the result carries the
    Checkout URL (``checkout_url``, None while Stripe is not connected)."""
    app = apps_repo.get(conn, application_id, caller)
    api = apis_repo.get(conn, api_id, caller)
    if Lifecycle(api["lifecycle"]) not in SUBSCRIBABLE:
        raise Conflict(f"the API is {api['lifecycle']}; only published APIs take subscriptions")
    if not apis_repo.plan_enabled(conn, api_id, plan_id):
        raise NotFound(f"plan '{plan_id}' is not offered on this API")
    plan = plans_repo.get_any(conn, plan_id)
    if plan["status"] != "active":
        raise Conflict("the plan is retired")
    # A prepaid plan is paid up front in credit packs: active at once, at zero balance.
    free = plans.is_free(plan) or credits_repo.plan_packs(conn, str(plan["id"])) is not None
    if not free and not billing.organization_bills(conn, str(plan["organization_id"])):
        raise Conflict(
            "this plan is paid and its publisher has not connected a payment provider yet, "
            "so it cannot take subscriptions; choose a free plan or try again later"
        )
    row = subscriptions_repo.create(
        conn,
        application_id=app["id"],
        api_id=api["id"],
        plan_id=plan["id"],
        consumer_id=app["owner_id"],
        state=SubState.ACTIVE if free else SubState.ON_HOLD,
        cause=Cause.USER,
        actor=caller.user_id,
        now=ctx.clock.now(),
    )
    credits.open_account_if_prepaid(ctx, conn, str(row["id"]), plan)
    checkout_url = None if free else billing.start_checkout(ctx, conn, str(row["id"]))
    return {**row, "checkout_url": checkout_url}


def list_subscriptions(
    conn: Connection, caller: Principal, *, limit: int, after: str | None
) -> Page:
    return subscriptions_repo.page(conn, caller, limit=limit, after=after)


def get_subscription(conn: Connection, caller: Principal, sub_id: str) -> dict[str, Any]:
    """The subscription, with its plan version; one waiting for payment carries the URL
    of its last Checkout session (``checkout_url``; the ``checkout`` action renews it
    when it expired)."""
    row = subscriptions_repo.get(conn, sub_id, caller)
    url = None
    if row["state"] == SubState.ON_HOLD.value:
        url = billing.last_checkout_url(conn, sub_id)
    return {**row, **plan_versions.of_subscription(conn, row), "checkout_url": url}


def renew_checkout(
    ctx: AppContext, conn: Connection, caller: Principal, sub_id: str
) -> dict[str, Any]:
    """A Checkout URL to pay the caller's own subscription that waits for payment: the
    open session's, or a fresh one when it expired or was abandoned. Conflict when
    there is nothing to pay (any other state) or no payment provider."""
    row = subscriptions_repo.get(conn, sub_id, caller)
    if row["consumer_id"] != caller.user_id:
        raise NotFound(f"subscription '{sub_id}' not found")
    if row["state"] != SubState.ON_HOLD.value:
        raise Conflict(f"the subscription is {row['state']}: there is nothing to pay")
    plan = plans_repo.get_any(conn, str(row["plan_id"]))
    if not billing.organization_bills(conn, str(plan["organization_id"])):
        raise Conflict("the publisher has not connected a payment provider yet")
    return {**row, "checkout_url": billing.start_checkout(ctx, conn, sub_id)}


def of_consumer(conn: Connection, caller: Principal) -> list[dict[str, Any]]:
    """The caller's own subscriptions, newest first, with API and plan names."""
    return subscriptions_repo.of_consumer_with_names(conn, caller.user_id)


def _cause(caller: Principal) -> Cause:
    return Cause.ADMIN if caller.role in ("admin", "publisher") else Cause.USER


def cancel(
    ctx: AppContext, caller: Principal, sub_id: str, *, reason: str | None
) -> dict[str, Any]:
    """Cancel now, here and at the billing provider. Runs its own transactions: the usage
    so far is pushed first, outside the cancel's transaction, so that if the cancel
    fails and rolls back the pushed usage stays recorded as sent (nothing is pushed
    twice or lost)."""
    with ctx.tx(read_only=True) as conn:
        subscriptions_repo.get(conn, sub_id, caller)  # 404 for anyone else's
    billed = billing.is_configured(ctx)
    if billed:
        # Access ends first (every gateway stops admitting and has put what it served in
        # the ledger), then the final usage is pushed: every 2xx is on the last invoice.
        billing.end_access(ctx, sub_id)
    try:
        if billed:
            billing.flush_usage(ctx, sub_id)
        with ctx.tx() as conn:
            subscriptions_repo.transition(
                conn,
                sub_id,
                SubState.CANCELLED,
                cause=_cause(caller),
                actor=caller.user_id,
                reason=reason,
                now=ctx.clock.now(),
            )
            if billed:
                billing.cancel_at_provider(ctx, conn, sub_id)
            out = subscriptions_repo.get(conn, sub_id, caller)
    finally:
        if billed:  # cancelled: the state refuses it now; failed: access comes back
            billing.restore_access(ctx, sub_id)
    return out


def _manage(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    sub_id: str,
    target: SubState,
    reason: str | None,
) -> dict[str, Any]:
    caller.require("publisher")
    sub = subscriptions_repo.get(conn, sub_id, caller)  # publisher: only their APIs'
    if target is SubState.ACTIVE and sub["state"] != SubState.BLOCKED.value:
        # Unblocking is not a way around payment: an on-hold subscription waits for Checkout.
        raise IllegalTransition("unblock", sub["state"], target.value, [])
    subscriptions_repo.transition(
        conn,
        sub_id,
        target,
        cause=Cause.ADMIN,
        actor=caller.user_id,
        reason=reason,
        now=ctx.clock.now(),
    )
    return subscriptions_repo.get(conn, sub_id, caller)


def block(
    ctx: AppContext, conn: Connection, caller: Principal, sub_id: str, *, reason: str | None
) -> dict[str, Any]:
    """A publisher (or admin) blocks a subscription: the gateway refuses its calls."""
    return _manage(ctx, conn, caller, sub_id, SubState.BLOCKED, reason)


def unblock(
    ctx: AppContext, conn: Connection, caller: Principal, sub_id: str, *, reason: str | None
) -> dict[str, Any]:
    """Lift a block (only from ``blocked``; an on-hold subscription waits for payment)."""
    return _manage(ctx, conn, caller, sub_id, SubState.ACTIVE, reason)


def events(conn: Connection, caller: Principal, sub_id: str) -> list[dict[str, Any]]:
    """Every state change with its cause (user, webhook, admin, system)."""
    subscriptions_repo.get(conn, sub_id, caller)
    return subscriptions_repo.events(conn, sub_id)
