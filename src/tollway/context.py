"""What a running Tollway holds, typed: the one ``AppContext`` of a process.

The composition root (``tollway.runtime``) builds it from settings; everything above the
workers layer (services, the HTTP adapters) receives it. Every field is typed: there is
no untyped bag of extras, so mypy checks each use of the context.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from tollway.billing.credentials import EngineProvider
from tollway.billing.service import BillingService
from tollway.domain.clock import Clock, SystemClock
from tollway.security.login_throttle import LoginThrottle, MemoryFailureStore
from tollway.security.secretbox import SecretBox
from tollway.settings import Settings
from tollway.store import db
from tollway.store.changes import RedisPublisher
from tollway.webhooks.processor import WebhookProcessor
from tollway.workers.usage_sync import UsageSync

log = logging.getLogger("tollway")


@dataclass(frozen=True)
class BillingRuntime:
    """Billing as a running Tollway uses it: the service the control plane calls, the
    engine per organization, the webhook processor and the usage sync worker."""

    service: BillingService
    engines: EngineProvider
    webhooks: WebhookProcessor
    usage: UsageSync
    api_base: str | None  # Stripe API base URL (the emulator); None: Stripe itself


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    secrets: SecretBox
    billing: BillingRuntime
    clock: Clock = field(default_factory=SystemClock)
    publisher: RedisPublisher = field(default_factory=lambda: RedisPublisher(None))
    login_throttle: LoginThrottle = field(
        default_factory=lambda: LoginThrottle(
            MemoryFailureStore(), per_account=10, per_address=50, window_s=900
        )
    )

    @contextmanager
    def tx(self, *, read_only: bool = False) -> Iterator[Connection]:
        """A transaction (``store.db.transaction``: committed when the block is left, a
        failed commit raised as a domain error); a config bump is published to Redis by
        an after-commit hook."""
        with db.transaction(self.engine, read_only=read_only) as conn:
            conn.info.pop("tollway_config_version", None)
            yield conn
            version = conn.info.pop("tollway_config_version", None)
            if version is not None:
                db.after_commit(conn, lambda: self.publisher.publish(int(version)))
