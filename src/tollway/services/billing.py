"""Billing as the control plane's rules see it: whether Stripe is connected, checkout
for a paid subscription, cancelling at the provider, provisioning an enabled plan."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, select

from tollway.billing import records
from tollway.context import AppContext
from tollway.domain.subscriptions import Cause
from tollway.store.billing_tables import stripe_accounts
from tollway.store.tables import plans, subscriptions

log = logging.getLogger(__name__)


def is_configured(ctx: AppContext) -> bool:
    """Whether any organization has connected Stripe."""
    with ctx.tx(read_only=True) as conn:
        return conn.execute(select(stripe_accounts.c.organization_id)).first() is not None


def _org_of_subscription(conn: Connection, subscription_id: str) -> str | None:
    org = conn.execute(
        select(plans.c.organization_id)
        .join(subscriptions, subscriptions.c.plan_id == plans.c.id)
        .where(subscriptions.c.id == subscription_id)
    ).scalar()
    return None if org is None else str(org)


def start_checkout(ctx: AppContext, conn: Connection, subscription_id: str) -> str:
    """A Checkout URL for an on-hold paid subscription."""
    return ctx.billing.service.start_checkout(subscription_id, conn)


def cancel_at_provider(ctx: AppContext, conn: Connection, subscription_id: str) -> None:
    """End the subscription at the billing provider too (if its organization bills)."""
    if records.stripe_configured(conn, _org_of_subscription(conn, subscription_id)):
        ctx.billing.service.cancel(subscription_id, Cause.USER, conn=conn)


def flush_usage(ctx: AppContext, subscription_id: str) -> None:
    """Push the subscription's usage so far, in transactions of its own (each push is
    recorded before it is sent, so a later rollback elsewhere cannot orphan it)."""
    result = ctx.billing.usage.flush(subscription_id)
    if result.errors:
        log.warning("usage flush before cancel: %s", "; ".join(result.errors))


def plan_enabled(ctx: AppContext, conn: Connection, api_id: str, plan_id: str) -> None:
    """A paid plan was enabled on an API (or its price changed): provision it at the
    provider (idempotent); later, when Stripe is connected, if it is not yet."""
    org = conn.execute(select(plans.c.organization_id).where(plans.c.id == plan_id)).scalar()
    if not records.stripe_configured(conn, org):
        log.info("plan %s enabled before Stripe is connected: provisioned later", plan_id)
        return
    ctx.billing.service.provision_plan(api_id, plan_id, conn)
