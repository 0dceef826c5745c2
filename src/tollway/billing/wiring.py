"""Plugging billing into a running Tollway (``tollway.runtime.attach_billing`` calls
``attach``; ``tollway serve`` calls ``start_workers``).

``attach(ctx)`` puts on the context:

* ``ctx.billing`` — the adapter the subscription flow calls (``SubscriptionBilling``);
* ``ctx.extras["billing"]`` — a ``BillingRuntime`` with the service, the engine
  provider, the webhook processor and the usage sync worker (used by the billing routes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from tollway.billing import records
from tollway.billing.credentials import EngineProvider, StripeEngineProvider
from tollway.billing.service import BillingService, BillingUrls
from tollway.domain.subscriptions import Cause
from tollway.store.billing_tables import stripe_accounts
from tollway.store.tables import plans, subscriptions
from tollway.webhooks.processor import WebhookProcessor
from tollway.workers.usage_sync import UsageSync

log = logging.getLogger(__name__)


@dataclass
class BillingRuntime:
    service: BillingService
    engines: EngineProvider
    webhooks: WebhookProcessor
    usage: UsageSync
    api_base: str | None


class StripeSubscriptionBilling:
    """``tollway.api.context.SubscriptionBilling`` over ``BillingService``."""

    def __init__(self, runtime: BillingRuntime) -> None:
        self.runtime = runtime

    def is_configured(self) -> bool:
        with records.reading(self.runtime.service.db) as conn:
            return conn.execute(select(stripe_accounts.c.organization_id)).first() is not None

    def _org_configured(self, conn: Connection, subscription_id: str) -> bool:
        org = conn.execute(
            select(plans.c.organization_id)
            .join(subscriptions, subscriptions.c.plan_id == plans.c.id)
            .where(subscriptions.c.id == subscription_id)
        ).scalar()
        return records.stripe_configured(conn, org)

    def start_checkout(self, conn: Connection, subscription_id: str) -> str:
        return self.runtime.service.start_checkout(subscription_id, conn)

    def cancel(self, conn: Connection, subscription_id: str) -> None:
        if self._org_configured(conn, subscription_id):
            self.runtime.service.cancel(subscription_id, Cause.USER, conn=conn)

    def flush_usage(self, subscription_id: str) -> None:
        result = self.runtime.usage.flush(subscription_id)
        if result.errors:
            log.warning("usage flush before cancel: %s", "; ".join(result.errors))

    def plan_enabled(self, conn: Connection, api_id: str, plan_id: str) -> None:
        org = conn.execute(select(plans.c.organization_id).where(plans.c.id == plan_id)).scalar()
        if not records.stripe_configured(conn, org):
            log.info("plan %s enabled before Stripe is connected: provisioned later", plan_id)
            return
        self.runtime.service.provision_plan(api_id, plan_id, conn)


def build_runtime(ctx: Any, *, make: Callable[[str], Any] | None = None) -> BillingRuntime:
    settings = ctx.settings
    engines = StripeEngineProvider(
        ctx.engine, ctx.secrets, api_base=settings.stripe_api_base, make=make
    )
    service = BillingService(
        ctx.engine, engines, BillingUrls(settings.resolved_public_url), clock=ctx.clock
    )
    processor = WebhookProcessor(
        ctx.engine, service, engines, grace_s=settings.past_due_grace_s, clock=ctx.clock
    )
    usage = UsageSync(ctx.engine, engines, clock=ctx.clock)

    def flush_before_cancel(subscription_id: str, conn: Connection | None) -> None:
        if conn is None:
            usage.flush(subscription_id)
        else:
            usage.flush_within(conn, subscription_id)

    service.before_cancel = flush_before_cancel
    return BillingRuntime(service, engines, processor, usage, settings.stripe_api_base)


def attach(ctx: Any) -> None:
    runtime = build_runtime(ctx)
    ctx.extras["billing"] = runtime
    ctx.billing = StripeSubscriptionBilling(runtime)


def runtime_of(ctx: Any) -> BillingRuntime:
    rt = ctx.extras.get("billing")
    if rt is None:
        rt = build_runtime(ctx)
        ctx.extras["billing"] = rt
    assert isinstance(rt, BillingRuntime)
    return rt


def start_workers(ctx: Any, *, usage_interval_s: float | None = None) -> Callable[[], None]:
    """Run the webhook worker (every 5 s, plus right after each delivery) and the usage
    sync (every ``TOLLWAY_USAGE_SYNC_INTERVAL_S``, default 60 s) in daemon threads.
    Returns a function that stops them."""
    rt = runtime_of(ctx)
    stop = threading.Event()
    interval = usage_interval_s or float(ctx.settings.usage_sync_interval_s)

    def loop(name: str, every: float, fn: Callable[[], object]) -> None:
        while not stop.is_set():
            try:
                fn()
            except Exception:
                log.exception("%s failed; retrying", name)
            stop.wait(every)

    threads = [
        threading.Thread(target=loop, args=("webhooks", 5.0, rt.webhooks.run_pending), daemon=True),
        threading.Thread(
            target=loop, args=("usage sync", interval, rt.usage.run_once), daemon=True
        ),
    ]
    for t in threads:
        t.start()

    def halt() -> None:
        stop.set()
        for t in threads:
            t.join(timeout=10)

    return halt
