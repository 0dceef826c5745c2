"""The organization's tax setting (Stripe Tax): read by its publishers and admins,
changed by its admins. Checkout, subscription updates and estimates follow it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.principal import Principal
from tollway.domain.tax import TaxSettings
from tollway.store import tax_repo


def as_dict(value: TaxSettings) -> dict[str, Any]:
    return {
        "automatic_tax": value.automatic_tax,
        "tax_id_collection": value.tax_id_collection,
        "billing_address_collection": value.billing_address_collection,
        "estimates": value.estimate_basis,
    }


def get(conn: Connection, caller: Principal) -> dict[str, Any]:
    caller.require("publisher")
    return as_dict(tax_repo.get(conn, caller.organization_id))


def put(ctx: AppContext, conn: Connection, caller: Principal, value: TaxSettings) -> dict[str, Any]:
    """Store the setting; it applies to Checkout sessions and subscription updates from
    now on (subscriptions already created keep what Stripe has until Tollway updates
    them). The organization's publishers and admins may change it, as they may connect
    Stripe (the REST route is admin-only, like the Stripe keys')."""
    caller.require("publisher")
    tax_repo.put(conn, caller.organization_id, value, ctx.clock.now())
    return as_dict(value)
