"""Invoices for consumers: Stripe's list and preview next to Tollway's own estimate."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tollway.billing import change_estimate, coupon_estimate, meters
from tollway.billing.engine import BillingEngine, InvoiceInfo
from tollway.domain.errors import BillingProviderError, NotFound
from tollway.domain.money import from_minor, to_minor
from tollway.pricing.rating import rate
from tollway.pricing.spec import PricingSpec
from tollway.store import billing_repo, plan_changes_repo, tax_repo, usage_push_repo
from tollway.store.billing_repo import SubRow


def invoice_dict(inv: InvoiceInfo) -> dict[str, Any]:
    out = asdict(inv)
    out["total"] = str(from_minor(inv.total_minor, inv.currency))
    out["amount_due"] = str(from_minor(inv.amount_due_minor, inv.currency))
    out["total_excluding_tax"] = str(from_minor(before_tax(inv), inv.currency))
    out["tax"] = str(from_minor(inv.tax_minor, inv.currency))
    out["period_start"] = datetime.fromtimestamp(inv.period_start, UTC).isoformat()
    out["period_end"] = datetime.fromtimestamp(inv.period_end, UTC).isoformat()
    out["link"] = inv.hosted_url or inv.pdf_url
    return out


def before_tax(inv: InvoiceInfo) -> int:
    """The invoice's total after discounts and before tax (what an estimate matches)."""
    if inv.total_excluding_tax_minor is None:
        return inv.total_minor - inv.tax_minor
    return inv.total_excluding_tax_minor


def ledger_usage(
    conn: Connection, sub: SubRow, pricing: PricingSpec, start_s: int, end_s: int
) -> dict[str, int]:
    """Each priced meter's value for the subscription over [start, end) from the ledger."""
    return meters.ledger_usage(conn, sub.organization_id, sub.id, pricing, start_s, end_s)


def estimate(conn: Connection, sub: SubRow, start_s: int, end_s: int) -> dict[str, Any]:
    """Tollway's own estimate of the period's invoice (pricing core, ledger usage), on
    the pricing of the subscription's plan version: one usage line (or one per tier) per
    meter the plan prices."""
    pricing = change_estimate.subscription_pricing(conn, sub)
    quantities = ledger_usage(conn, sub, pricing, start_s, end_s)
    rated = rate(pricing, pricing.currency, quantities)
    return {
        "usage_quantity": sum(quantities.values()),
        "usage_by_meter": quantities,
        "currency": pricing.currency,
        "total": str(rated.total),
        "total_minor": to_minor(rated.total, pricing.currency),
        "lines": [ln.to_dict() for ln in rated.lines],
        **coupon_estimate.with_discount(conn, sub.id, rated, end_s),
    }


def in_flight_usage(
    conn: Connection, sub: SubRow, start_s: int, end_s: int, settled_before: datetime
) -> int:
    """Ledger usage of [start, end) that Stripe may not have counted yet: windows not yet
    planned (still open), pushes pending, and pushes accepted after ``settled_before``
    (summed over the plan's meters), on the subscription's plan version."""
    pricing = change_estimate.subscription_pricing(conn, sub)
    start_ms, end_ms = start_s * 1000, end_s * 1000
    candidates = [
        usage_push_repo.unsettled_start(conn, sub.id, None, settled_before),
        usage_push_repo.planned_until(conn, sub.id) or start_ms,
    ]
    first = max(start_ms, min(c for c in candidates if c is not None))
    if first >= end_ms:
        return 0
    return sum(ledger_usage(conn, sub, pricing, first // 1000, end_s).values())


def upcoming(
    conn: Connection,
    engine: BillingEngine,
    subscription_id: str,
    consumer_id: str | None,
    *,
    settled_before: datetime | None = None,
) -> dict[str, Any]:
    """Stripe's preview of the next invoice and Tollway's estimate for the same period.

    A Stripe error (a restricted key without the permission, Stripe unreachable) never
    hides Tollway's own estimate: the answer then carries the estimate and the error.

    Stripe counts meter events asynchronously: when the totals differ while usage is
    still in flight (``usage_pending`` > 0: not yet pushed, or pushed after
    ``settled_before``), ``agrees`` is None (pending), not False."""
    sub = billing_repo.load_own_sub(conn, subscription_id, consumer_id)  # 404 if not theirs
    row = billing_repo.billing_subscription(conn, subscription_id=sub.id)
    if row is None or not row.stripe_subscription_id:
        raise NotFound("this subscription is not billed through Stripe")
    preview: InvoiceInfo | None = None
    stripe_error: str | None = None
    try:
        preview = engine.preview_invoice(row.customer_id, row.stripe_subscription_id)
    except BillingProviderError as err:
        stripe_error = err.detail
    start = row.current_period_start or 0
    end = row.current_period_end or 0
    if preview is not None and not (start and end):
        start, end = preview.period_start, preview.period_end
    changed = plan_changes_repo.applied_in_period(conn, sub.id, start, end)
    scheduled = plan_changes_repo.scheduled(conn, sub.id)
    if row.stripe_status == "trialing":  # usage at $0.00, then the first paid period's fee
        ours = change_estimate.closing_trial(conn, sub, start, end)
    elif changed:  # the plan changed in this period: pending prorations, usage on each plan
        ours = change_estimate.next_invoice(conn, sub, start, end, changed)
    elif scheduled is not None and scheduled.effective_at == end:
        ours = change_estimate.closing_before_scheduled(conn, sub, start, end, scheduled)
    else:
        ours = estimate(conn, sub, start, end)
    ours["tax"] = tax_repo.get(conn, sub.organization_id).estimate_basis
    stripe_minor = before_tax(preview) if preview is not None else None
    pending = 0
    if start and end:
        cutoff = settled_before or datetime.now(UTC)
        pending = in_flight_usage(conn, sub, start, end, cutoff)
    agrees: bool | None = None
    if stripe_minor is not None:
        agrees = stripe_minor == ours["total_minor"] or (None if pending else False)
    return {
        "subscription_id": sub.id,
        "period_start": datetime.fromtimestamp(start, UTC).isoformat() if start else None,
        "period_end": datetime.fromtimestamp(end, UTC).isoformat() if end else None,
        "stripe": invoice_dict(preview) if preview is not None else None,
        "stripe_error": stripe_error,
        "tollway_estimate": ours,
        "agrees": agrees,
        "usage_pending": pending,
    }
