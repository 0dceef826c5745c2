"""Tollway's own computation of a plan change (pricing core, ledger usage): what the
change bills, and the next invoice of a subscription whose plan changed in the period.

Stripe's side is ``BillingEngine.preview_change`` / ``preview_invoice``; the two are
shown next to each other and must agree to the cent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.billing import meters
from tollway.domain.money import round_line, to_minor
from tollway.domain.periods import Period
from tollway.pricing.changes import (
    PlanChange,
    ProrationBehavior,
    invoice_after_change,
    plan_change,
    rate_trial,
)
from tollway.pricing.invoice import rate
from tollway.pricing.lines import InvoiceLine
from tollway.pricing.spec import PricingSpec, parse_pricing
from tollway.store import plan_changes_repo, plan_versions_repo, plans_repo
from tollway.store.billing_repo import SubRow
from tollway.store.plan_changes_repo import PlanChangeRow


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def pricing_of(conn: Connection, plan_id: str) -> PricingSpec:
    plan = plans_repo.get_any(conn, plan_id)
    return parse_pricing(plan["pricing"], plan["currency"], several_meters=True)


def subscription_pricing(conn: Connection, sub: SubRow) -> PricingSpec:
    """The pricing of the subscription's own version of its plan."""
    plan = plan_versions_repo.subscription_plan(conn, sub.id, plans_repo.get_any(conn, sub.plan_id))
    return parse_pricing(plan["pricing"], plan["currency"], several_meters=True)


def usage(conn: Connection, sub: SubRow, pricing: PricingSpec, start_s: int, end_s: int) -> int:
    """The plan meter's value for the subscription over ``[start, end)`` (ledger; plan
    changes involve plans of one usage price)."""
    return sum(
        meters.ledger_usage(conn, sub.organization_id, sub.id, pricing, start_s, end_s).values()
    )


def _lines(lines: list[InvoiceLine], currency: str) -> dict[str, Any]:
    total = round_line(sum((ln.amount for ln in lines), Decimal(0)), currency)
    return {
        "currency": currency,
        "total": str(total),
        "total_minor": to_minor(total, currency),
        "lines": [ln.to_dict() for ln in lines],
    }


def change_now(
    conn: Connection,
    sub: SubRow,
    to_plan_id: str,
    period: tuple[int, int],
    at: int,
    behavior: ProrationBehavior,
) -> tuple[PlanChange, PricingSpec]:
    """The change of ``sub`` to ``to_plan_id`` at ``at``: the old plan's usage since the
    period start (or the last change in it) and the flat-fee prorations."""
    old = subscription_pricing(conn, sub)
    new = pricing_of(conn, to_plan_id)
    earlier = plan_changes_repo.applied_in_period(conn, sub.id, period[0], period[1])
    since = earlier[-1].effective_at if earlier else period[0]
    full = Period(_at(period[0]), _at(period[1]))
    change = plan_change(
        old, new, full, _at(at), usage(conn, sub, old, since, at), behavior=behavior
    )
    return change, new


def preview(
    conn: Connection,
    sub: SubRow,
    to_plan_id: str,
    period: tuple[int, int],
    at: int,
    behavior: ProrationBehavior,
) -> dict[str, Any]:
    """What Stripe's ``create_preview`` for the change shows: the invoice made at once
    (``always_invoice``) or the next invoice, after the change (new usage from zero)."""
    change, new = change_now(conn, sub, to_plan_id, period, at, behavior)
    if behavior is ProrationBehavior.ALWAYS_INVOICE:
        out = _lines(change.billed_now, new.currency)
        out["invoiced_now"] = True
        return out
    full = Period(_at(period[0]), _at(period[1]))
    closing = invoice_after_change(change, new, full, 0)
    out = _lines(closing.lines, new.currency)
    out["invoiced_now"] = False
    return out


def next_invoice(
    conn: Connection, sub: SubRow, start_s: int, end_s: int, changes: list[PlanChangeRow]
) -> dict[str, Any]:
    """The next invoice of a subscription whose plan changed (``changes``, oldest first,
    all inside ``[start, end)``): each change's pending lines (old usage and
    prorations, for ``create_prorations``), then the current plan's usage since the
    last change and its flat fee for the next period."""
    full = Period(_at(start_s), _at(end_s))
    pending: list[InvoiceLine] = []
    since = start_s
    for c in changes:
        old = pricing_of(conn, c.from_plan_id)
        new = pricing_of(conn, c.to_plan_id)
        behavior = ProrationBehavior(c.proration_behavior)
        quantity = usage(conn, sub, old, since, c.effective_at)
        pending.extend(
            plan_change(old, new, full, _at(c.effective_at), quantity, behavior=behavior).pending
        )
        since = c.effective_at
    current = subscription_pricing(conn, sub)
    quantity = usage(conn, sub, current, since, end_s)
    last = changes[-1]
    base = plan_change(
        pricing_of(conn, last.from_plan_id),
        current,
        full,
        _at(last.effective_at),
        behavior=ProrationBehavior.NONE,
    )
    rated = invoice_after_change(base, current, full, quantity)  # no pending lines of its own
    out = _lines([*pending, *rated.lines], current.currency)
    out["usage_quantity"] = quantity
    return out


def closing_before_scheduled(
    conn: Connection, sub: SubRow, start_s: int, end_s: int, scheduled: PlanChangeRow
) -> dict[str, Any]:
    """The invoice closing a period at whose end a plan change is scheduled: the
    period's usage on the current plan, then the new plan's flat fee for the next
    period (no proration)."""
    old = subscription_pricing(conn, sub)
    new = pricing_of(conn, scheduled.to_plan_id)
    quantity = usage(conn, sub, old, start_s, end_s)
    used = rate(replace(old, flat_fee=Decimal(0)), old.currency, quantity)
    fee = rate(replace(new, usage_prices=()), new.currency, 0)
    out = _lines([*used.lines, *fee.lines], new.currency)
    out["usage_quantity"] = quantity
    return out


def closing_trial(conn: Connection, sub: SubRow, start_s: int, end_s: int) -> dict[str, Any]:
    """The invoice that ends a trial: the trial's usage at $0.00 (``rate_trial``), then
    the first paid period's flat fee, in advance."""
    spec = subscription_pricing(conn, sub)
    quantities = meters.ledger_usage(conn, sub.organization_id, sub.id, spec, start_s, end_s)
    trial = rate_trial(spec, spec.currency, quantities, period=Period(_at(start_s), _at(end_s)))
    fee = rate(replace(spec, usage_prices=()), spec.currency, 0)
    free = [ln for ln in trial.lines if ln.meter is not None]
    out = _lines([*free, *fee.lines], spec.currency)
    out["usage_quantity"] = sum(quantities.values())
    out["usage_by_meter"] = quantities
    return out
