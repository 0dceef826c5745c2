"""Subscription plans and meters: pricing validated by the pricing core, limits, retiring,
and keeping the billing provider's prices in step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Conflict, InvalidInput
from tollway.domain.paging import Page
from tollway.domain.periods import validate_interval_count
from tollway.domain.principal import Principal
from tollway.metering.meters import DEFAULT_METER, parse_meter
from tollway.pricing.spec import PricingSpec, parse_pricing
from tollway.services import billing, plan_versions
from tollway.services.plan_versions import ExistingSubscribers
from tollway.store import plan_versions_repo, plans_repo

#: How the built-in meter (every call) is listed next to an organization's own meters.
BUILTIN_METER: dict[str, Any] = {
    "id": "mtr_builtin_requests",
    "key": DEFAULT_METER.key,
    "definition": DEFAULT_METER.to_dict(),
    "created_at": datetime(1970, 1, 1, tzinfo=UTC),
}


@dataclass(frozen=True)
class RateLimit:
    count: int
    per: str  # "second" | "minute" | "hour" | "day"


@dataclass(frozen=True)
class Quota:
    limit: int
    mode: str = "hard"  # "hard" | "overage"


def spec_of(plan: dict[str, Any]) -> PricingSpec:
    return parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)


def is_free(plan: dict[str, Any]) -> bool:
    return spec_of(plan).is_free


def view(plan: dict[str, Any]) -> dict[str, Any]:
    """A plan row with its ``rate_limit`` and ``quota`` (or None) and whether it is ``free``."""
    rate = (
        {"count": plan["rate_limit_count"], "per": plan["rate_limit_unit"]}
        if plan["rate_limit_count"] is not None
        else None
    )
    quota = (
        {"limit": plan["quota_limit"], "mode": plan["quota_mode"]}
        if plan["quota_limit"] is not None
        else None
    )
    return {**plan, "rate_limit": rate, "quota": quota, "free": is_free(plan)}


def validate_pricing(
    conn: Connection, organization_id: str, pricing: dict[str, Any], currency: str
) -> PricingSpec:
    """The pricing spec, or InvalidInput naming the field (its meter must exist)."""
    if "currency" in pricing:
        raise InvalidInput.at(
            ("pricing", "currency"), "the currency is set on the plan, not in pricing"
        )
    spec = parse_pricing(pricing, currency, several_meters=True)
    several = isinstance(pricing.get("usage"), list)
    for i, key in enumerate(spec.meters):
        if key != DEFAULT_METER.key and not plans_repo.meter_exists(conn, organization_id, key):
            loc = ("pricing", "usage", i, "meter") if several else ("pricing", "usage", "meter")
            raise InvalidInput.at(loc, f"no meter with key '{key}'")
    return spec


def _limit_columns(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "rate_limit" in changes:
        rate: RateLimit | None = changes["rate_limit"]
        out["rate_limit_count"] = rate.count if rate else None
        out["rate_limit_unit"] = rate.per if rate else None
    if "quota" in changes:
        quota: Quota | None = changes["quota"]
        out["quota_limit"] = quota.limit if quota else None
        out["quota_mode"] = quota.mode if quota else "hard"
    return out


def create_plan(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    name: str,
    description: str,
    currency: str,
    billing_interval: str,
    pricing: dict[str, Any],
    rate_limit: RateLimit | None = None,
    quota: Quota | None = None,
    billing_interval_count: int = 1,
    trial_days: int | None = None,
) -> dict[str, Any]:
    caller.require("publisher")
    try:
        validate_interval_count(billing_interval, billing_interval_count)
    except ValueError as exc:
        raise InvalidInput.at(("billing_interval_count",), str(exc)) from None
    spec = validate_pricing(conn, caller.organization_id, pricing, currency)
    values = {
        "name": name,
        "description": description,
        "currency": currency.upper(),
        "billing_interval": billing_interval,
        "billing_interval_count": billing_interval_count,
        "trial_days": trial_days,
        "pricing": spec.to_dict(),
        **_limit_columns({"rate_limit": rate_limit, "quota": quota}),
    }
    row = plans_repo.create(
        conn, organization_id=caller.organization_id, values=values, now=ctx.clock.now()
    )
    plan_versions_repo.add(conn, row["id"], 1, row, "stay", ctx.clock.now())
    return view(row)


def list_plans(conn: Connection, caller: Principal, *, limit: int, after: str | None) -> Page:
    page = plans_repo.page(conn, caller, limit=limit, after=after)
    return Page([view(r) for r in page.items], page.has_more, page.next_cursor)


def get_plan(conn: Connection, caller: Principal, plan_id: str) -> dict[str, Any]:
    return view(plans_repo.get(conn, plan_id, caller))


def update_plan(
    ctx: AppContext, conn: Connection, caller: Principal, plan_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change a plan. ``changes`` holds only what the caller set: ``name``,
    ``description``, ``pricing`` (None leaves them), ``rate_limit``, ``quota`` (None
    removes them). A new price is a new version of the plan (``publish_version`` with
    ``move_at_renewal``: existing subscriptions move to it at renewal); a limit change
    alone changes the latest version in place."""
    plan = plans_repo.get(conn, plan_id, caller, manage=True)
    names = {k: changes[k] for k in ("name", "description") if changes.get(k) is not None}
    if changes.get("pricing") is not None:
        publish_version(ctx, conn, caller, plan_id, changes, "move_at_renewal")
    elif limits := _limit_columns(changes):
        plan_versions_repo.ensure_first(conn, plan, ctx.clock.now())
        plans_repo.update_fields(conn, plan_id, limits, ctx.clock.now())
        latest = plan_versions_repo.latest(conn, plan_id)
        plan_versions_repo.set_limits(conn, plan_id, latest, plans_repo.get_any(conn, plan_id))
    if names:
        plans_repo.update_fields(conn, plan_id, names, ctx.clock.now())
    return view(plans_repo.get(conn, plan_id, caller, manage=True))


def publish_version(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    plan_id: str,
    changes: dict[str, Any],
    existing_subscribers: ExistingSubscribers,
) -> dict[str, Any]:
    """A new version of the plan: ``changes`` holds ``pricing`` (required) and, when
    set, ``rate_limit`` and ``quota`` (else the latest version's are kept). New
    subscribers get it; existing ones ``stay`` on theirs or ``move_at_renewal``. The
    provider gets the new prices (the old ones stop being sold, their subscribers keep
    them). Returns the version."""
    plan = plans_repo.get(conn, plan_id, caller, manage=True)
    pricing = validate_pricing(conn, plan["organization_id"], changes["pricing"], plan["currency"])
    values = {"pricing": pricing.to_dict(), **_limit_columns(changes)}
    version = plan_versions.publish(ctx, conn, plan, values, existing_subscribers)
    if billing.is_configured(ctx):
        for api_id in plans_repo.enabled_api_ids(conn, plan_id):
            billing.plan_enabled(ctx, conn, api_id, plan_id)
    row = plan_versions_repo.get(conn, plan_id, version)
    assert row is not None
    counts = plan_versions_repo.subscriber_counts(conn, plan_id)
    return plan_versions.version_dict(row, version, counts.get(version, 0))


def delete_plan(conn: Connection, caller: Principal, plan_id: str) -> None:
    """Delete an unused plan; a plan with subscriptions can only be retired (409)."""
    plans_repo.get(conn, plan_id, caller, manage=True)
    if plans_repo.in_use(conn, plan_id):
        raise Conflict("the plan has subscriptions; retire it instead of deleting it")
    plans_repo.delete_plan(conn, plan_id)


def retire_plan(
    ctx: AppContext, conn: Connection, caller: Principal, plan_id: str
) -> dict[str, Any]:
    """Retired plans take no new subscriptions; existing ones keep running."""
    plans_repo.get(conn, plan_id, caller, manage=True)
    plans_repo.retire(conn, plan_id, ctx.clock.now())
    billing.stop_selling(ctx, conn, plan_id=plan_id)
    return view(plans_repo.get(conn, plan_id, caller, manage=True))


def create_meter(
    ctx: AppContext, conn: Connection, caller: Principal, definition: dict[str, Any]
) -> dict[str, Any]:
    caller.require("publisher")
    meter = parse_meter(definition, ("definition",))
    if meter.key == DEFAULT_METER.key:
        raise Conflict(f"'{meter.key}' is the built-in meter")
    if plans_repo.meter_exists(conn, caller.organization_id, meter.key):
        raise Conflict(f"a meter with key '{meter.key}' already exists")
    return plans_repo.create_meter(
        conn, caller.organization_id, meter.key, meter.to_dict(), ctx.clock.now()
    )


def list_meters(conn: Connection, caller: Principal) -> list[dict[str, Any]]:
    """The built-in meter, then the organization's own."""
    caller.require("publisher")
    return [BUILTIN_METER, *plans_repo.list_meters(conn, caller.organization_id)]
