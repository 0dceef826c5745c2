"""The developer portal's storefront: the published catalog as anyone may browse it, an
API's plans described in words and numbers, and what a number of calls would cost.

Prices come from the pricing core (``tollway.pricing.rate``, the function that rates the
invoices), so the calculator's answer is the invoice's amount for that usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import InvalidInput, NotFound
from tollway.pricing import (
    PriceModel,
    RatedInvoice,
    describe_pricing,
    describe_usage_prices,
    rate,
)
from tollway.pricing.spec import PricingSpec, parse_pricing
from tollway.store import apis_repo, documents_repo, plan_versions_repo, plans_repo

MAX_CALLS = 10**12
RATE_UNITS: dict[str, str] = {"second": "second", "minute": "minute", "hour": "hour", "day": "day"}


@dataclass(frozen=True)
class TierRow:
    first: int
    last: int | None
    unit_amount: Decimal
    flat_amount: Decimal


@dataclass(frozen=True)
class PlanCard:
    """A plan as the API page shows it."""

    id: str
    name: str
    description: str
    currency: str
    interval: str
    free: bool
    flat_fee: Decimal
    words: str
    included: int
    model: str | None
    unit_amount: Decimal | None
    package_size: int | None
    tiers: list[TierRow]
    rate_limit: str | None
    quota: str | None
    several_meters: bool
    usage_lines: list[str]  # one per meter (shown for a plan that bills several)


def _spec(plan: dict[str, Any]) -> PricingSpec:
    return parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)


def _interval(plan: dict[str, Any]) -> str:
    return str(plan["billing_interval"]).replace("_", " ")


def _tiers(spec: PricingSpec) -> list[TierRow]:
    if len(spec.usage_prices) != 1:
        return []
    usage = spec.usage_prices[0]
    rows: list[TierRow] = []
    lower = 1
    for tier in usage.tiers:
        rows.append(TierRow(lower, tier.up_to, tier.unit_amount, tier.flat_amount))
        lower = (tier.up_to or lower) + 1
    return rows


def card(plan: dict[str, Any]) -> PlanCard:
    spec = _spec(plan)
    only = spec.usage_prices[0] if len(spec.usage_prices) == 1 else None
    unit_label = "calls" if only is not None and only.meter == "requests" else None
    rate_limit = None
    if plan["rate_limit_count"] is not None:
        unit = RATE_UNITS.get(plan["rate_limit_unit"], plan["rate_limit_unit"])
        rate_limit = f"{plan['rate_limit_count']:,} calls per {unit}"
    quota = None
    if plan["quota_limit"] is not None:
        how = "then refused" if plan["quota_mode"] == "hard" else "then billed as overage"
        quota = f"{plan['quota_limit']:,} calls per {_interval(plan)}, {how}"
    return PlanCard(
        id=str(plan["id"]),
        name=str(plan["name"]),
        description=str(plan["description"] or ""),
        currency=spec.currency,
        interval=_interval(plan),
        free=spec.is_free,
        flat_fee=spec.flat_fee,
        words=describe_pricing(spec, interval=_interval(plan), unit_label=unit_label).replace(
            " per unit of calls", " per call"
        ),
        included=only.included_units if only else 0,
        model=only.model.value if only else None,
        unit_amount=only.unit_amount
        if only and only.model in (PriceModel.UNIT, PriceModel.PACKAGE)
        else None,
        package_size=only.package_size if only else None,
        tiers=_tiers(spec),
        rate_limit=rate_limit,
        quota=quota,
        several_meters=len(spec.usage_prices) > 1,
        usage_lines=describe_usage_prices(spec),
    )


def _with_tags(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tags = documents_repo.tags_of(conn, [str(r["id"]) for r in rows])
    return [{**r, "tags": tags.get(str(r["id"]), [])} for r in rows]


def catalog(conn: Connection, *, text: str = "", tag: str = "") -> list[dict[str, Any]]:
    """Published APIs (anyone may browse them) matching ``text`` and carrying ``tag``."""
    rows = _with_tags(conn, documents_repo.published(conn, text=text.strip()[:100]))
    if tag:
        rows = [r for r in rows if tag in r["tags"]]
    return rows


def all_tags(conn: Connection) -> list[str]:
    rows = _with_tags(conn, documents_repo.published(conn))
    return sorted({t for r in rows for t in r["tags"]}, key=str.lower)


def published_api(ctx: AppContext, conn: Connection, api_id: str) -> dict[str, Any]:
    """A published API with its tags, base URL, environments and plan cards; NotFound
    for any other."""
    row = documents_repo.published_one(conn, api_id)
    if row is None:
        raise NotFound(f"API '{api_id}' not found")
    api = _with_tags(conn, [row])[0]
    environments = sorted(d["environment"] for d in apis_repo.deployments(conn, [api_id])[api_id])
    offered = [p for p in apis_repo.plans_of(conn, api_id, enabled_only=True)]
    plan_rows = [plans_repo.get_any(conn, str(p["plan_id"])) for p in offered]
    cards = [card(p) for p in plan_rows if p["status"] == "active"]
    cards.sort(key=lambda c: (not c.free, c.flat_fee, c.name))
    base = f"{ctx.settings.resolved_gateway_url}/{api['context']}/{api['version']}"
    return {
        **api,
        "environments": environments,
        "plans": cards,
        "base_url": base,
        "key_header": ctx.settings.api_key_header,
        "operations": apis_repo.operations(conn, api_id),
        "has_document": documents_repo.document(conn, api_id) is not None,
    }


def document(conn: Connection, api_id: str) -> dict[str, Any]:
    """The OpenAPI document a published API was imported from; NotFound without one."""
    if documents_repo.published_one(conn, api_id) is None:
        raise NotFound(f"API '{api_id}' not found")
    doc = documents_repo.document(conn, api_id)
    if doc is None:
        raise NotFound("this API has no stored OpenAPI document")
    return doc


def parse_calls(value: str) -> int:
    """A number of calls as people type it (``50000``, ``50,000``, ``50 000``)."""
    text = value.strip().replace(",", "").replace(" ", "").replace("_", "")
    if not text.isdigit():
        raise InvalidInput.at(("calls",), "Enter a whole number of calls, like 50000.")
    calls = int(text)
    if calls > MAX_CALLS:
        raise InvalidInput.at(("calls",), f"Enter at most {MAX_CALLS:,} calls.")
    return calls


def quote(conn: Connection, api_id: str, plan_id: str, calls: int) -> RatedInvoice:
    """What ``calls`` in one billing period cost on the plan: the invoice's lines and
    total from the pricing core (every usage meter counts the calls). NotFound unless the
    plan is offered on the published API."""
    if documents_repo.published_one(conn, api_id) is None or not apis_repo.plan_enabled(
        conn, api_id, plan_id
    ):
        raise NotFound(f"plan '{plan_id}' is not offered on this API")
    plan = plans_repo.get_any(conn, plan_id)
    spec = _spec(plan)
    usage = {u.meter: Decimal(calls) for u in spec.usage_prices}
    label = "calls" if [u.meter for u in spec.usage_prices] == ["requests"] else None
    return rate(spec, spec.currency, usage, meter_label=label)


def plan_card(conn: Connection, plan_id: str, subscription_id: str | None = None) -> PlanCard:
    """A plan's card (for the subscription page: what it is on — with a subscription,
    the pricing and limits of its plan version)."""
    plan = plans_repo.get_any(conn, plan_id)
    if subscription_id is not None:
        plan = plan_versions_repo.subscription_plan(conn, subscription_id, plan)
    return card(plan)
