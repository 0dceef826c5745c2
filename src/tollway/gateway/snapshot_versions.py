"""Plan versions in the gateway's snapshot: a subscription on an older version of its
plan than the latest (grandfathered, or not yet moved at renewal) is held to that
version's limits. Each such version becomes a ``Plan`` keyed ``<plan id>@v<N>`` and the
subscription points at it; everything else keeps the plan row (the latest version).
The version's pricing is returned too, for the subscription's budget."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from tollway.gateway.snapshot import Plan, Subscription
from tollway.store import plan_versions_repo


def pin_versions(
    conn: Connection, subs: list[Subscription], plans: dict[str, Plan]
) -> tuple[list[Subscription], dict[str, Plan], dict[str, Any]]:
    """The subscriptions (pinned ones pointing at their version's plan), the plans with
    the versions', and subscription id -> its version's pricing (pinned ones only)."""
    pinned = plan_versions_repo.pinned_old(conn)
    if not pinned:
        return subs, plans, {}
    out_plans = dict(plans)
    key_of: dict[str, str] = {}
    pricing_of: dict[str, Any] = {}
    for sub_id, plan_id, version, limits, pricing in pinned:
        base = plans.get(plan_id)
        if base is None:
            continue
        key = f"{plan_id}@v{version}"
        out_plans[key] = replace(
            base,
            id=key,
            rate_limit_count=limits.get("rate_limit_count"),
            rate_limit_unit=limits.get("rate_limit_unit"),
            quota_limit=limits.get("quota_limit"),
            quota_mode=limits.get("quota_mode") or "hard",
        )
        key_of[sub_id] = key
        pricing_of[sub_id] = pricing
    pinned_subs = [replace(s, plan_id=key_of[s.id]) if s.id in key_of else s for s in subs]
    return pinned_subs, out_plans, pricing_of
