"""Subscribers as a publisher sees them: per API and plan, with state, since when, the
calls of the current billing period and Tollway's estimate of its bill (the pricing
core's rating of those calls; Stripe's invoices are the authority once connected)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.billing.invoices import invoice_dict
from tollway.context import AppContext
from tollway.domain.errors import BillingProviderError, Conflict
from tollway.domain.periods import period_containing
from tollway.domain.principal import Principal
from tollway.pricing import rate
from tollway.services import plan_versions, plans, subscriptions
from tollway.store import apps_repo, billing_repo, plan_versions_repo, plans_repo, subscribers_repo


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def with_usage(ctx: AppContext, conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """The subscription row plus ``period`` (its current billing period),
    ``period_calls`` and ``estimate`` (Decimal, in ``currency``, on its plan version's
    pricing) and its plan version (``plan_version_label``)."""
    plan = plans_repo.get_any(conn, str(row["plan_id"]))
    plan = plan_versions_repo.subscription_plan(conn, str(row["id"]), plan)
    period = period_containing(row["billing_anchor"], plan["billing_interval"], ctx.clock.now())
    calls = subscribers_repo.billable_calls(
        conn, str(row["id"]), _ms(period.start), _ms(period.end)
    )
    spec = plans.spec_of(plan)
    estimate = (
        rate(spec, spec.currency, Decimal(calls)).total
        if spec.meter in (None, "requests")
        else None
    )
    return {
        **row,
        "period": period,
        "period_calls": calls,
        "estimate": estimate,
        "currency": spec.currency,
        **plan_versions.of_subscription(conn, row),
    }


def list_subscribers(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    api_id: str | None = None,
    plan_id: str | None = None,
) -> list[dict[str, Any]]:
    """The subscriptions of the caller's APIs (every one for an admin), newest first."""
    caller.require("publisher")
    rows = subscribers_repo.subscribers(conn, caller)
    rows = [
        r
        for r in rows
        if (api_id is None or r["api_id"] == api_id)
        and (plan_id is None or r["plan_id"] == plan_id)
    ]
    return [with_usage(ctx, conn, r) for r in rows]


def subscriber(ctx: AppContext, conn: Connection, caller: Principal, sub_id: str) -> dict[str, Any]:
    """One subscription of the caller's APIs (404 otherwise) with its usage and its
    state history."""
    caller.require("publisher")
    subscriptions.get_subscription(conn, caller, sub_id)  # 404 for another org's
    row = subscribers_repo.subscribers(conn, caller, subscription_id=sub_id)[0]
    keys = [
        {k: key[k] for k in ("name", "environment", "display_prefix", "created_at")}
        | {"last_used_at": key["last_used_at"], "revoked_at": key["revoked_at"]}
        for key in apps_repo.keys(conn, row["application_id"])
    ]
    return {
        **with_usage(ctx, conn, row),
        "history": subscriptions.events(conn, caller, sub_id),
        "keys": keys,
        **_invoices(ctx, conn, sub_id),
    }


def _invoices(ctx: AppContext, conn: Connection, sub_id: str) -> dict[str, Any]:
    """The subscription's invoices at Stripe, newest first (``invoices`` is None when it
    is not billed through Stripe; ``invoices_error`` says why Stripe could not be read)."""
    billed = billing_repo.billing_subscription(conn, subscription_id=sub_id)
    if billed is None or billed.stripe_subscription_id is None:
        return {"invoices": None, "invoices_error": None}
    try:
        organization_id = billing_repo.load_sub(conn, sub_id).organization_id
        found = ctx.billing.engines.for_org(organization_id).list_invoices(billed.customer_id)
    except (BillingProviderError, Conflict) as exc:
        return {"invoices": [], "invoices_error": exc.detail}
    mine = [i for i in found if i.subscription_id == billed.stripe_subscription_id]
    mine.sort(key=lambda i: i.created, reverse=True)
    return {"invoices": [invoice_dict(i) for i in mine], "invoices_error": None}
