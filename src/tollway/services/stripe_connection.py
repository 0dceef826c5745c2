"""The organization's Stripe connection as the console shows it: what Tollway needs
(restricted-key permissions, the webhook endpoint and its events), whether webhooks
arrive and verify, and disconnecting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tollway.billing.stripe.keys import REQUIRED_PERMISSIONS
from tollway.context import AppContext
from tollway.domain.errors import NotFound
from tollway.domain.principal import Principal
from tollway.services import billing
from tollway.store import billing_repo, inbox_repo
from tollway.webhooks.processor import HANDLED

#: Stripe's permission names (as a restricted key's settings list them) -> what for.
PERMISSION_PURPOSES: dict[str, str] = {
    "rak_product_write": "Products: one per API and plan",
    "rak_plan_write": "Prices: the plan's prices",
    "rak_billing_meter_write": "Billing meters: usage-based prices",
    "rak_billing_meter_event_write": "Meter events: publishing usage",
    "rak_customer_write": "Customers: one per consumer",
    "rak_checkout_session_write": "Checkout sessions: paid subscriptions",
    "rak_customer_portal_write": "Customer portal: consumers manage payment",
    "rak_subscription_write": "Subscriptions: create, change, cancel",
    "rak_invoice_write": "Invoices: lists and upcoming-invoice previews",
}


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    purpose: str


def required_permissions() -> list[Permission]:
    """Every permission a restricted key must have, with what Tollway uses it for."""
    return [Permission(name, PERMISSION_PURPOSES.get(name, "")) for name in REQUIRED_PERMISSIONS]


def webhook_events() -> list[str]:
    """The events to select on Stripe's webhook endpoint (all others are ignored)."""
    return sorted(HANDLED)


def webhook_url(ctx: AppContext) -> str:
    return f"{ctx.settings.resolved_public_url}/webhooks/stripe"


def status(ctx: AppContext, conn: Connection, caller: Principal) -> dict[str, Any]:
    """The connection (never a secret), what to configure at Stripe, and the last
    webhook events received for the organization (stored only after their signature
    verified)."""
    settings = billing.stripe_settings(ctx, conn, caller)
    return {
        **settings,
        "webhook_url": webhook_url(ctx),
        "webhook_events": webhook_events(),
        "permissions": required_permissions(),
        "recent_webhooks": inbox_repo.recent(conn, caller.organization_id, limit=10),
    }


def recent_webhooks(conn: Connection, caller: Principal, limit: int = 50) -> list[dict[str, Any]]:
    """Webhook deliveries received for the caller's organization (every one for an
    admin), newest first: event, when, outcome."""
    caller.require("publisher")
    org = None if caller.is_admin else caller.organization_id
    return inbox_repo.recent(conn, org, limit=limit)


def replay_webhook(ctx: AppContext, conn: Connection, caller: Principal, event_id: str) -> None:
    """Apply a failed webhook event again (the webhook worker picks it up at once)."""
    caller.require("publisher")
    org = None if caller.is_admin else caller.organization_id
    if not inbox_repo.requeue(conn, event_id, org):
        raise NotFound(f"no failed webhook event '{event_id}' of yours")


def disconnect(conn: Connection, caller: Principal) -> None:
    """Forget the organization's Stripe keys. Nothing new can be sold or billed through
    Stripe until it is connected again; Stripe keeps its subscriptions."""
    caller.require("publisher")
    if not billing_repo.delete_stripe_account(conn, caller.organization_id):
        raise NotFound("Stripe is not connected")
