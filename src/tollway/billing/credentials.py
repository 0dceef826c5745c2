"""Stored Stripe credentials (encrypted) and the engines built from them.

``EngineProvider`` hands out a ``BillingEngine`` per organization; the Stripe provider
builds it from ``stripe_accounts`` (secret key decrypted with the ``SecretBox``) and
caches it until the keys change. Tests can pass any provider (e.g. one returning an
``InMemoryBillingEngine``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine

from tollway.billing.engine import BillingEngine
from tollway.domain.errors import ConfigurationError, Conflict
from tollway.security.secretbox import SecretBox, last4
from tollway.store import billing_repo
from tollway.store import db as store_db
from tollway.store.billing_repo import StripeAccount

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StripeCredentials:
    organization_id: str
    secret_key: str
    publishable_key: str
    webhook_secrets: tuple[str, ...]  # several during a rotation (newline-separated input)
    account_id: str | None
    livemode: bool
    key_kind: str


class EngineProvider(Protocol):
    def for_org(self, organization_id: str) -> BillingEngine: ...

    def build(self, secret_key: str) -> BillingEngine:
        """An engine for keys that are not stored yet (provisioning right after storing)."""
        ...

    def webhook_secrets(self) -> list[tuple[str, tuple[str, ...]]]:
        """(organization_id, signing secrets) of every configured organization."""
        ...


def load_credentials(db: Engine, box: SecretBox, organization_id: str) -> StripeCredentials:
    with store_db.transaction(db, read_only=True) as conn:
        row = billing_repo.stripe_account(conn, organization_id)
    if row is None:
        raise Conflict(
            "Stripe is not connected: an admin must store the Stripe keys first "
            "(PUT /api/v1/settings/stripe)"
        )
    return _creds(row, box)


def _creds(r: StripeAccount, box: SecretBox) -> StripeCredentials:
    secrets = box.decrypt(r.webhook_secret_encrypted)
    return StripeCredentials(
        organization_id=r.organization_id,
        secret_key=box.decrypt(r.secret_key_encrypted),
        publishable_key=r.publishable_key,
        webhook_secrets=tuple(s.strip() for s in secrets.splitlines() if s.strip()),
        account_id=r.account_id,
        livemode=bool(r.livemode),
        key_kind=r.key_kind,
    )


def store_credentials(
    conn: Connection,
    box: SecretBox,
    creds: StripeCredentials,
    now: datetime,
) -> None:
    values = {
        "account_id": creds.account_id,
        "livemode": creds.livemode,
        "key_kind": creds.key_kind,
        "secret_key_encrypted": box.encrypt(creds.secret_key),
        "secret_key_last4": creds.secret_key[-4:],
        "publishable_key": creds.publishable_key,
        "webhook_secret_encrypted": box.encrypt("\n".join(creds.webhook_secrets)),
        "webhook_secret_last4": creds.webhook_secrets[0][-4:] if creds.webhook_secrets else "",
        "updated_at": now,
    }
    billing_repo.save_stripe_account(conn, creds.organization_id, values)


def masked(value: str) -> str:
    tail = last4(value) or value[-4:]
    return f"…{tail}"


class StripeEngineProvider:
    """Engines built from the stored credentials; ``make`` turns a secret key into an
    engine (the Stripe engine by default, pointed at ``api_base`` if given)."""

    def __init__(
        self,
        db: Engine,
        box: SecretBox,
        *,
        api_base: str | None = None,
        make: Callable[[str], BillingEngine] | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.api_base = api_base
        self._make = make
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, BillingEngine]] = {}

    def build(self, secret_key: str) -> BillingEngine:
        if self._make is not None:
            return self._make(secret_key)
        from tollway.billing.stripe import StripeBillingEngine, make_client

        return StripeBillingEngine(make_client(secret_key, base_url=self.api_base))

    def for_org(self, organization_id: str) -> BillingEngine:
        creds = load_credentials(self.db, self.box, organization_id)
        with self._lock:
            cached = self._cache.get(organization_id)
            if cached is not None and cached[0] == creds.secret_key:
                return cached[1]
            engine = self.build(creds.secret_key)
            self._cache[organization_id] = (creds.secret_key, engine)
            return engine

    def webhook_secrets(self) -> list[tuple[str, tuple[str, ...]]]:
        with store_db.transaction(self.db, read_only=True) as conn:
            rows = billing_repo.stripe_accounts_all(conn)
        out: list[tuple[str, tuple[str, ...]]] = []
        for r in rows:
            try:
                out.append((r.organization_id, _creds(r, self.box).webhook_secrets))
            except ConfigurationError:
                log.error(
                    "the Stripe secrets of organization %s cannot be decrypted", r.organization_id
                )
        return out
