"""What a running control plane holds: settings, the database, the secret box, hooks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from tollway.domain.clock import Clock, SystemClock
from tollway.security.secretbox import SecretBox
from tollway.settings import Settings
from tollway.store import db
from tollway.store.changes import RedisPublisher

log = logging.getLogger("tollway.api")


class SubscriptionBilling(Protocol):
    """What the subscription flow needs from billing (implemented in ``tollway.billing``)."""

    def is_configured(self) -> bool: ...

    def start_checkout(self, conn: Connection, subscription_id: str) -> str:
        """Create a checkout for an on-hold paid subscription and return its URL."""
        ...

    def cancel(self, conn: Connection, subscription_id: str) -> None:
        """End the subscription at the billing provider too."""
        ...

    def flush_usage(self, subscription_id: str) -> None:
        """Push the subscription's usage so far, in transactions of its own (each push is
        recorded before it is sent, so a later rollback elsewhere cannot orphan it)."""
        ...

    def plan_enabled(self, conn: Connection, api_id: str, plan_id: str) -> None:
        """A plan was enabled on an API: provision it at the provider (idempotent)."""
        ...


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    secrets: SecretBox
    clock: Clock = field(default_factory=SystemClock)
    billing: SubscriptionBilling | None = None
    publisher: RedisPublisher = field(default_factory=lambda: RedisPublisher(None))
    extras: dict[str, Any] = field(default_factory=dict)

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
