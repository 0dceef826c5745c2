"""What a plan's pricing means before it is saved: a preview of the bill at typical
volumes (the pricing core's own rating), and who a price change affects and when."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.domain.principal import Principal
from tollway.pricing import describe_pricing, describe_usage_prices, rate
from tollway.services import plans
from tollway.store import plans_repo

#: The call volumes a preview prices.
PREVIEW_CALLS = (0, 1_000, 10_000, 100_000, 1_000_000)


@dataclass(frozen=True, slots=True)
class PreviewRow:
    calls: int
    total: Decimal
    currency: str


def preview(
    conn: Connection,
    caller: Principal,
    pricing: dict[str, Any],
    currency: str,
    calls: tuple[int, ...] = PREVIEW_CALLS,
) -> list[PreviewRow]:
    """The bill of one period at each volume of ``calls`` (of the plan's usage meter; a
    plan that bills several meters: that many units of each, as the portal's cost
    calculator counts), rated by the pricing core; ``InvalidInput`` located at the
    pricing field otherwise."""
    caller.require("publisher")
    spec = plans.validate_pricing(conn, caller.organization_id, pricing, currency)
    return [
        PreviewRow(
            n,
            rate(spec, spec.currency, {m: Decimal(n) for m in spec.meters}).total,
            spec.currency,
        )
        for n in calls
    ]


def usage_lines(plan: dict[str, Any]) -> list[str]:
    """The plan's usage prices, one line per meter."""
    return describe_usage_prices(plans.spec_of(plan))


@dataclass(frozen=True, slots=True)
class PriceChangeImpact:
    live_subscriptions: int
    enabled_on_apis: int
    when: str


def price_change_impact(conn: Connection, caller: Principal, plan_id: str) -> PriceChangeImpact:
    """Who a new price of the plan affects, and when (see ``plans.update_plan``)."""
    plans_repo.get(conn, plan_id, caller, manage=True)
    return PriceChangeImpact(
        live_subscriptions=plans_repo.live_subscription_count(conn, plan_id),
        enabled_on_apis=len(plans_repo.enabled_api_ids(conn, plan_id)),
        when="New subscriptions get the new price at once; existing subscriptions keep "
        "their price until their next renewal, then move to the new one.",
    )


def describe(plan: dict[str, Any]) -> str:
    """The plan's pricing in one line ("$10.00 per month, includes 1,000 requests, …")."""
    return describe_pricing(plans.spec_of(plan), interval=str(plan["billing_interval"]))
