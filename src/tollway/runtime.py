"""The composition root: a running Tollway assembled from settings — data directory,
keys, database, billing (service, engines, webhook processor, usage sync) — into the one
typed ``AppContext``. Only the root (this module, ``server``, ``cli``, ``demo``) composes;
everything below receives what it needs."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from sqlalchemy import Connection, Engine

from tollway.billing.credentials import StripeEngineProvider
from tollway.billing.engine import BillingEngine
from tollway.billing.service import BillingService, BillingUrls
from tollway.context import AppContext, BillingRuntime
from tollway.domain.clock import Clock, SystemClock
from tollway.security.login_throttle import build_throttle
from tollway.security.secretbox import SecretBox, load_or_create_key
from tollway.settings import Settings
from tollway.store import db
from tollway.store.changes import RedisPublisher
from tollway.webhooks.processor import WebhookProcessor
from tollway.workers.usage_sync import UsageSync

log = logging.getLogger("tollway")


def prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(settings.data_dir, 0o700)
    except OSError:  # pragma: no cover - e.g. a mounted volume we do not own
        log.warning("could not restrict permissions of %s", settings.data_dir)


def secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key:
        return SecretBox(settings.secret_key)
    return SecretBox(load_or_create_key(settings.data_dir))


def build_context(
    settings: Settings, *, migrate: bool = True, clock: Clock | None = None
) -> AppContext:
    prepare_data_dir(settings)
    engine = db.make_engine(settings.resolved_database_url)
    if migrate:
        db.upgrade(engine)
    secrets = secret_box(settings)
    clock = clock or SystemClock()
    return AppContext(
        settings=settings,
        engine=engine,
        secrets=secrets,
        billing=build_billing(settings, engine, secrets, clock),
        clock=clock,
        publisher=RedisPublisher(settings.redis_url),
        login_throttle=build_throttle(
            settings.redis_url,
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window_s=settings.login_failure_window_s,
        ),
    )


def build_billing(
    settings: Settings,
    engine: Engine,
    secrets: SecretBox,
    clock: Clock,
    *,
    make: Callable[[str], BillingEngine] | None = None,
) -> BillingRuntime:
    """Billing wired for this process. ``make`` turns a secret key into a billing engine
    (default: the Stripe engine, at ``TOLLWAY_STRIPE_API_BASE`` if set)."""
    engines = StripeEngineProvider(engine, secrets, api_base=settings.stripe_api_base, make=make)
    service = BillingService(
        engine, engines, BillingUrls(settings.resolved_public_url), clock=clock
    )
    processor = WebhookProcessor(
        engine, service, engines, grace_s=settings.past_due_grace_s, clock=clock
    )
    usage = UsageSync(engine, engines, clock=clock, lag_s=settings.stripe_meter_lag_s)

    def flush_before_cancel(subscription_id: str, conn: Connection | None) -> None:
        if conn is None:
            usage.flush(subscription_id)
        else:
            usage.flush_within(conn, subscription_id)
        # the final invoice is cut at once: let Stripe count the last push first
        usage.wait_counted(subscription_id, settings.cancel_fence_timeout_s, conn)

    service.before_cancel = flush_before_cancel
    return BillingRuntime(service, engines, processor, usage, settings.stripe_api_base)
